"""Soak: mixed use of three pages in a real browser for N minutes; the server's memory every minute and after close.

    python bench/soak_bench.py [--minutes 30] [--close-wait 210]

Starts the app through bench/soak_server.py (`streamlit run` plus in-server counts) over a fresh database holding the
5,000-row Alpaca subset from ../shared/data (the project sample if that is missing; 2,000 rows approved), and cycles:
a Browse tab (search, open, edit, save), a Review tab (approve / reject / skip with the A D S keys), and a new tab
per cycle, closed afterwards (every 4th exports a mixture snapshot, a background job watched to its end; the others
reload Overview with tab switches). Prints the RSS every minute (`rss_mb minute=M value`, with the load average),
the growth after minute 5, then closes every tab and watches for `--close-wait` seconds (Streamlit keeps a closed
tab's session for server.disconnectedSessionTTL, 120 s, then ui/sessions.py shuts it down): live sessions, lazy
table sources, DataFrames and Python's allocated blocks with the tabs open and after they closed. Needs playwright
and /usr/bin/chromium, like tests/e2e.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from browser_support import CHROMIUM, CHROMIUM_ARGS, app_env, running_app  # noqa: E402

from curation.io import importers, sample_data  # noqa: E402
from curation.store import Store, revisions  # noqa: E402

ALPACA = ROOT.parent / "shared" / "data" / "alpaca_subset_5000.json"
WORDS = itertools.cycle(["capital", "write", "explain", "list", "poem", "translate", "number", ""])


def seeded_db(folder: Path) -> Path:
    db = folder / "soak.duckdb"
    store = Store(db)
    if ALPACA.exists():
        importers.import_bytes(store, ALPACA.read_bytes(), ALPACA.name, "alpaca", source_name="alpaca5k", author="soak")
    else:
        sample_data.load_sample(store)
    approved = store.query_rows("SELECT id FROM examples ORDER BY id LIMIT 2000")  # something to export from the start
    revisions.set_status(store, "approved", author="soak", ids=[row[0] for row in approved])
    store.close()
    return db


def rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def browse_cycle(page, url: str, n: int) -> None:
    word = next(WORDS)
    page.goto(f"{url}/Browse?filter_w_search={word}" if word else f"{url}/Browse")
    page.get_by_text("matching rows").first.wait_for(timeout=60_000)
    goto = page.get_by_label("Open example id", exact=True)
    goto.fill(str(1 + n % 4000))
    goto.press("Enter")
    page.locator(".st-key-browse_open button").click()
    output = page.get_by_label("Output", exact=True)
    output.wait_for(timeout=60_000)
    output.fill(f"soak edit {n}")
    output.press("Control+s")
    page.get_by_text("Saved example").first.wait_for(timeout=60_000)


def review_cycle(page, url: str, n: int) -> None:
    if n % 10 == 0:
        page.goto(f"{url}/Review")
    page.get_by_text("Review queue").first.wait_for(timeout=60_000)
    page.keyboard.press("ADS"[n % 3])
    page.wait_for_timeout(500)


def overview_cycle(page, url: str, n: int) -> None:
    tab = ["Status", "Origin", "Source", "Tag", "Task", "Format"][n % 6]
    page.goto(f"{url}/?overview_tab={tab}")
    page.get_by_text("Recent changes").first.wait_for(timeout=60_000)


def export_job_cycle(page, url: str, n: int) -> None:
    """A small background job (a mixture snapshot) started, watched to its end, and shown by the page."""
    page.goto(f"{url}/Mixture")
    page.get_by_role("button", name="Export snapshot").click(timeout=60_000)
    page.get_by_text("wrote snapshot").first.wait_for(timeout=120_000)


def fresh_tab_cycle(browser, url: str, n: int) -> None:
    """A new tab (a new session) each cycle, closed afterwards: every 4th exports a snapshot, the rest Overview."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        (export_job_cycle if n % 4 == 0 else overview_cycle)(page, url, n)
    finally:
        page.close()


def server_figures(stats: Path) -> dict:
    """The newest line bench/soak_server.py wrote (Python-level counts inside the server)."""
    lines = stats.read_text().splitlines() if stats.exists() else []
    return json.loads(lines[-1]) if lines else {}


def describe(figures: dict) -> str:
    keys = ("app_session_objects", "sessions_active", "sessions_kept_disconnected", "lazy_table_sources", "dataframes")
    return " ".join(f"{k}={figures.get(k)}" for k in (*keys, "allocated_blocks", "threads"))


def soak(browser, url: str, server, stats: Path, minutes: float) -> dict[int, float]:
    """Mixed use of Browse, Review and a fresh tab per cycle until the time is up; RSS every minute."""
    pages = [browser.new_page(viewport={"width": 1366, "height": 768}) for _ in range(2)]
    cycles = [browse_cycle, review_cycle]
    start, next_report, samples, n, errors = time.monotonic(), 0.0, {}, 0, 0
    while (elapsed := time.monotonic() - start) < minutes * 60:
        if elapsed >= next_report:  # one line per minute; a slow cycle on a loaded machine skips none
            minute = int(elapsed // 60)
            samples[minute] = rss_mb(server.pid)
            print(
                f"rss_mb minute={minute} elapsed_s={elapsed:.0f} {samples[minute]:.0f} load1={os.getloadavg()[0]:.1f}"
            )
            print(f"# server minute={minute} {describe(server_figures(stats))}", flush=True)
            next_report = 60.0 * (minute + 1)
        steps = [
            *(partial(cycle, page) for page, cycle in zip(pages, cycles, strict=True)),
            partial(fresh_tab_cycle, browser),
        ]
        for step in steps:
            try:
                step(url, n)
            except Exception as err:  # a slow step on a loaded machine: count it and carry on
                errors += 1
                print(f"# step failed ({step.func.__name__}): {str(err).splitlines()[0][:120]}", file=sys.stderr)
        n += 1
    for page in pages:
        page.close()
    print(f"cycles {n} failed_steps {errors}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--close-wait", type=float, default=210, help="seconds to watch after every tab closed")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = seeded_db(folder)
        stats = folder / "server_stats.jsonl"
        env = app_env(folder, db) | {"SOAK_STATS": str(stats), "SOAK_STATS_SECONDS": "15"}
        launcher = [str(ROOT / "bench" / "soak_server.py")]
        with running_app(folder, env, launcher) as (url, server), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            samples = soak(browser, url, server, stats, args.minutes)
            end = rss_mb(server.pid)
            print(f"rss_mb end {end:.0f}")
            base = samples.get(5, samples[max(samples)])
            print(f"rss_growth_after_minute_5_pct {100 * (end - base) / base:.1f}")
            open_figures = server_figures(stats)
            print(f"# server with tabs open: {describe(open_figures)}")
            browser.close()  # every tab closes: Streamlit keeps the sessions for its TTL, then the app frees them
            closed = time.monotonic()
            while (waited := time.monotonic() - closed) < args.close_wait:
                time.sleep(30)
                print(
                    f"# server {waited + 30:.0f} s after the tabs closed: {describe(server_figures(stats))}", flush=True
                )
            closed_figures = server_figures(stats)
            after = rss_mb(server.pid)
            print(f"rss_mb after_tabs_closed {after:.0f} ({100 * (after - end) / end:+.1f}% vs with the tabs open)")
            for key in ("app_session_objects", "sessions_kept_disconnected", "lazy_table_sources", "dataframes"):
                print(f"server_{key} open={open_figures.get(key)} closed={closed_figures.get(key)}")
            blocks_open, blocks_closed = open_figures.get("allocated_blocks"), closed_figures.get("allocated_blocks")
            if blocks_open and blocks_closed:
                print(f"allocated_blocks_closed_vs_open_pct {100 * (blocks_closed - blocks_open) / blocks_open:.1f}")


if __name__ == "__main__":
    main()
