"""Drop report, snapshot lineage and snapshot compare in a real browser at 1366x768: apply a dedup run on the Dedup
page, read what it removed, export a snapshot after it on the Mixture page (one from before it exists), and open the
Compare snapshots tab, which blames the removed rows on that dedup. Screenshots land in $DROP_REPORT_ARTIFACTS
(default: the test's tmp folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app
from drop_support import build_store

from curation.dedup import runs

pytestmark = [pytest.mark.browser, needs_chromium]
LONG = 60_000


def prepared_db(tmp_path: Path) -> Path:
    """Eight approved rows in two sources, a dedup run found but not applied, and a snapshot exported before it."""
    from curation.mixture import export as mixture_export
    from curation.mixture.plan import MixConfig
    from curation.store import Store, examples, revisions

    db = tmp_path / "drops.duckdb"
    store = Store(db)
    try:

        def factory(rows: list[dict], source: str) -> Store:
            import pandas as pd

            examples.add_examples(store, pd.DataFrame(rows), examples.SourceInfo(name=source, format="test"))
            return store

        build_store(factory)
        revisions.set_status(store, "approved", author="t", ids=list(range(1, 9)))
        runs.run_dedup(store, runs.DedupConfig(threshold=0.7), author="t")
        mixture_export.export(store, MixConfig(name="mixture"), tmp_path / "snapshots")
    finally:
        store.close()
    return db


def test_dedup_drop_report_then_compare_snapshots(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    shots = Path(os.environ.get("DROP_REPORT_ARTIFACTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    db = prepared_db(tmp_path)
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), browser_page() as page:

        def idle() -> None:
            page.wait_for_timeout(700)
            expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=LONG)

        def shot(name: str) -> None:
            idle()
            placeholders = page.locator("[data-testid=stSkeleton], [data-testid=stSkeletonElement]")
            expect(placeholders).to_have_count(0, timeout=LONG)
            expect(page.get_by_test_id("stException")).to_have_count(0)
            expect(page.get_by_text("Traceback")).to_have_count(0)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        page.goto(f"{url}/Dedup")
        expect(page.get_by_role("tab", name="Review clusters")).to_be_visible(timeout=LONG)
        page.get_by_role("tab", name="Review clusters").click()
        page.get_by_role("button", name="Accept all clusters").click()
        idle()
        page.get_by_role("button", name=re.compile(r"^Apply: mark 3 rows")).click()
        expect(page.get_by_text("Marked 3 rows duplicate (action #2).")).to_be_visible(timeout=LONG)
        report = page.get_by_test_id("stExpander").filter(has_text="What did it remove? (action #2)")
        expect(report.get_by_text("Rows changed")).to_be_visible(timeout=LONG)  # opened right after the apply
        expect(report.get_by_test_id("stMetricValue").first).to_have_text("3")
        expect(report.locator("[data-testid=stVegaLiteChart]").first).to_be_visible(timeout=LONG)
        report.scroll_into_view_if_needed()
        shot("01_dedup_drop_report_breakdown")
        report.get_by_role("tab", name="Scores").click()
        expect(report.get_by_text("Score: similarity to the kept row (dedup run 1), for the 3 rows")).to_be_visible()
        shot("01_dedup_drop_report_scores")
        report.get_by_role("tab", name="Mixture shares").click()
        expect(report.get_by_text("right before and right after this action")).to_be_visible(timeout=LONG)
        report.scroll_into_view_if_needed()
        shot("01_dedup_drop_report_shares")

        page.goto(f"{url}/Mixture")
        expect(page.get_by_text("Preview").first).to_be_visible(timeout=LONG)
        page.get_by_role("button", name="Export snapshot").click()
        expect(page.get_by_text(re.compile(r"wrote snapshot .*5 train"))).to_be_visible(timeout=LONG)
        shot("02_mixture_export")

        page.get_by_role("tab", name="Compare snapshots").click()
        expect(page.get_by_text("B was shaped by")).to_be_visible(timeout=LONG)
        shaped = re.compile(r"#2 dedup run 1 \(rouge, instruction, threshold 0.7, keep ge\): status → duplicate 3 rows")
        expect(page.get_by_text(shaped)).to_be_visible()
        compare = page.get_by_test_id("stMetric").filter(has_text="Rows removed")
        expect(compare.get_by_test_id("stMetricValue")).to_have_text("3", timeout=LONG)
        expect(page.get_by_text("3 rows removed")).to_be_visible(timeout=LONG)
        shot("03_compare_snapshots")
        page.get_by_text("3 rows removed").scroll_into_view_if_needed()
        shot("04_compare_rows")
