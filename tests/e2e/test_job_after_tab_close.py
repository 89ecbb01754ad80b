"""A background job outlives the tab that started it: a session opened later sees it running, and its outcome."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, app_env, needs_chromium, running_app, sample_db, settle

from curation.store import Store, jobs_table

RUNNING = re.compile(r"job #(\d+) · selfinstruct.* · running")
KEPT = re.compile(r"prompts \d+ · kept \d+/100000")
pytestmark = [pytest.mark.browser, needs_chromium]


def start_long_generation(page, url: str) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    page.goto(f"{url}/Generate")
    page.get_by_text("fake", exact=True).click()
    settle(page)  # the rerun after choosing the backend draws the settings anew
    keep = page.locator(".st-key-gen_n input")
    expect(keep).to_have_count(1, timeout=60_000)
    settle(page)
    keep.fill("100000")  # far more than it can keep before the test ends it
    keep.press("Enter")
    page.get_by_role("button", name="Start generation").click()
    expect(page.get_by_text(RUNNING)).to_be_visible(timeout=60_000)


def test_a_job_keeps_running_after_its_tab_closes_and_a_later_session_sees_it_end(tmp_path: Path) -> None:
    api = pytest.importorskip("playwright.sync_api")
    db = sample_db(tmp_path / "tabs.duckdb")
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        first = browser.new_context()  # its own cookies and websocket: a separate Streamlit session
        start_long_generation(first.new_page(), url)
        first.close()  # the tab that started the job is gone

        later = browser.new_context().new_page()
        later.goto(f"{url}/Generate")
        running = later.get_by_text(RUNNING)
        api.expect(running).to_be_visible(timeout=60_000)
        progress = later.get_by_text(KEPT)
        seen = progress.inner_text(timeout=30_000)
        api.expect(progress).not_to_have_text(seen, timeout=60_000)  # still working, watched from another session
        later.locator(".st-key-gen_job_cancel button").click()
        api.expect(later.get_by_text(re.compile(r"Job #\d+ was cancelled"))).to_be_visible(timeout=60_000)
        browser.close()
    store = Store(db)
    job = jobs_table.list_jobs(store).iloc[0]
    store.close()
    assert (job["kind"], job["status"]) == ("selfinstruct", "cancelled"), job.to_dict()
    assert job["progress"] > 0
