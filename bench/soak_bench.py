"""Soak: mixed use of three pages in a real browser for N minutes; the server's RSS every minute, then after close.

    python bench/soak_bench.py [--minutes 30] [--tabs 3]

Starts `streamlit run app.py` over a fresh database holding the 5,000-row Alpaca subset from ../shared/data (the
project sample if that is missing), opens one headless Chromium tab per page (Browse: search, open, edit, save;
Review: approve / reject / skip with the A D S keys; Overview: reload with tab switches) and cycles them until the
time is up. Prints one line per minute (`rss_mb minute=M value`), the growth after minute 5, and the RSS a minute
after every tab closed. Needs playwright and /usr/bin/chromium, like tests/e2e.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from browser_support import CHROMIUM, CHROMIUM_ARGS, app_env, running_app  # noqa: E402

from curation.io import importers, sample_data  # noqa: E402
from curation.store import Store  # noqa: E402

ALPACA = ROOT.parent / "shared" / "data" / "alpaca_subset_5000.json"
WORDS = itertools.cycle(["capital", "write", "explain", "list", "poem", "translate", "number", ""])


def seeded_db(folder: Path) -> Path:
    db = folder / "soak.duckdb"
    store = Store(db)
    if ALPACA.exists():
        importers.import_bytes(store, ALPACA.read_bytes(), ALPACA.name, "alpaca", source_name="alpaca5k", author="soak")
    else:
        sample_data.load_sample(store)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = seeded_db(folder)
        with running_app(folder, app_env(folder, db)) as (url, server), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            cycles = [browse_cycle, review_cycle, overview_cycle]
            pages = [browser.new_page(viewport={"width": 1366, "height": 768}) for _ in cycles]
            start, next_report, samples, n, errors = time.monotonic(), 0.0, {}, 0, 0
            while (elapsed := time.monotonic() - start) < args.minutes * 60:
                if elapsed >= next_report:  # one line per minute; a slow cycle on a loaded machine skips none
                    minute = int(elapsed // 60)
                    samples[minute] = rss_mb(server.pid)
                    print(f"rss_mb minute={minute} elapsed_s={elapsed:.0f} {samples[minute]:.0f}", flush=True)
                    next_report = 60.0 * (minute + 1)
                for page, cycle in zip(pages, cycles, strict=True):
                    try:
                        cycle(page, url, n)
                    except Exception as err:  # a slow step on a loaded machine: count it and carry on
                        errors += 1
                        print(f"# step failed ({cycle.__name__}): {str(err).splitlines()[0][:120]}", file=sys.stderr)
                n += 1
            end = rss_mb(server.pid)
            print(f"rss_mb end {end:.0f}")
            base = samples.get(5, samples[max(samples)])
            print(f"rss_growth_after_minute_5_pct {100 * (end - base) / base:.1f}")
            print(f"cycles {n} failed_steps {errors}")
            for page in pages:
                page.close()
            browser.close()
            time.sleep(60)
            print(f"rss_mb one_minute_after_tabs_closed {rss_mb(server.pid):.0f}")


if __name__ == "__main__":
    main()
