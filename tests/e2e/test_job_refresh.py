"""Pages that start a background job show its result when it ends, without another click (real browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app

from curation.io import sample_data
from curation.store import Store

DONE = re.compile(r"job #\d+ · .*succeeded")
pytestmark = [pytest.mark.browser, needs_chromium]


def test_cot_and_mixture_refresh_after_their_jobs(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    db = tmp_path / "jobs.duckdb"
    store = Store(db)
    rows = sample_data.load_sample(store)
    store.close()
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), browser_page() as page:
        page.goto(f"{url}/CoT")
        scored = page.get_by_test_id("stMetric").filter(has_text="Scored")
        expect(scored).to_contain_text("0", timeout=60_000)
        page.get_by_role("button", name="Run detector").click()
        expect(page.get_by_text(DONE).first).to_be_visible(timeout=60_000)
        expect(page.get_by_text("auto-tagged cot at threshold")).to_be_visible()
        # the rest of the page was redrawn too: nothing left to score, and Run is offered again
        expect(page.get_by_text("0 rows of the current filter need scoring.")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Run detector")).to_be_enabled(timeout=30_000)

        page.goto(f"{url}/Mixture")
        expect(page.get_by_text("No snapshots yet", exact=False)).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Export snapshot").click()
        expect(page.get_by_text(DONE).first).to_be_visible(timeout=60_000)
        expect(page.get_by_text("No snapshots yet", exact=False)).to_have_count(0, timeout=30_000)
        expect(page.get_by_text("wrote snapshot")).to_be_visible()
    assert rows > 0
