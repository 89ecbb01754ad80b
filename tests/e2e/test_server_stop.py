"""SIGTERM to the server (as Ctrl-C) ends a running thread job with the reason instead of leaving it 'running'."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app

from curation.io import sample_data
from curation.store import Store, jobs_table

pytestmark = [pytest.mark.browser, needs_chromium]


def test_sigterm_marks_a_running_generation_job_with_the_reason(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    db = tmp_path / "stop.duckdb"
    store = Store(db)
    sample_data.load_sample(store)
    store.close()
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, server), browser_page() as page:
        page.goto(f"{url}/Generate")
        page.get_by_text("fake", exact=True).click()
        keep = page.locator(".st-key-gen_n input")
        expect(keep).to_have_count(1, timeout=30_000)  # the rerun after choosing the backend has finished
        page.wait_for_timeout(1000)  # a late rerun can briefly draw the widget twice
        expect(keep).to_have_count(1, timeout=30_000)
        keep.fill("100000")
        keep.press("Enter")
        page.get_by_role("button", name="Start generation").click()
        expect(page.get_by_text(re.compile(r"job #\d+ · selfinstruct.* · running"))).to_be_visible(timeout=60_000)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    store = Store(db)
    job = jobs_table.list_jobs(store).iloc[0]
    store.close()
    assert job["status"] in ("cancelled", "failed"), job.to_dict()
    assert "the app stopped while it ran" in f"{job['message']} {job['error']}"
