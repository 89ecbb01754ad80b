"""A deep link opened first after a server start shows the app's own navigation (sections), not pages/ discovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app

from curation.io import sample_data
from curation.store import Store

pytestmark = [pytest.mark.browser, needs_chromium]


def test_deep_link_first_request_gets_sections(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    db = tmp_path / "nav.duckdb"
    store = Store(db)
    sample_data.load_sample(store)
    store.close()
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), browser_page() as page:
        page.goto(f"{url}/Browse")  # the very first request this server sees
        expect(page.get_by_text("matching rows").first).to_be_visible(timeout=60_000)
        nav = page.get_by_test_id("stSidebarNav")
        for section in ("Data", "Build", "Curate", "Train"):
            expect(nav.get_by_text(section, exact=True)).to_be_visible()
        expect(nav.get_by_role("link", name="Fine-tune")).to_be_visible()
        expect(nav.get_by_role("link", name="Finetune")).to_have_count(0)
        expect(nav.get_by_role("link", name="app", exact=True)).to_have_count(0)
        assert page.url.endswith("/Browse")
