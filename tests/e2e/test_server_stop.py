"""SIGTERM to the server (as Ctrl-C) ends a running thread job with the reason instead of leaving it 'running', and
leaves a training run (its own process) running, reattached by the app while it ran and by the next start."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app, sample_db, settle
from finetune_support import TAUGHT, fake_trainer, make_snapshot, snapshot_rows, tiny_config, wait_for  # noqa: F401

from curation.finetune import runner, runs
from curation.io import sample_data
from curation.store import Store, jobs_table

pytestmark = [pytest.mark.browser, needs_chromium]


def test_sigterm_marks_a_running_generation_job_with_the_reason(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    db = sample_db(tmp_path / "stop.duckdb")
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, server), browser_page() as page:
        page.goto(f"{url}/Generate")
        page.get_by_text("fake", exact=True).click()
        settle(page)  # the rerun after choosing the backend has finished (no stale second widget)
        keep = page.locator(".st-key-gen_n input")
        expect(keep).to_have_count(1, timeout=60_000)
        settle(page)
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


def test_sigterm_leaves_a_reattached_training_run_running(tmp_path: Path, fake_trainer, monkeypatch) -> None:  # noqa: F811
    expect = pytest.importorskip("playwright.sync_api").expect
    monkeypatch.setenv("FAKE_TRAINER_STEP_S", "0.3")  # the trainer outlives both the test's checks and the server
    db = tmp_path / "train.duckdb"
    store = Store(db)
    sample_data.load_sample(store)
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT))
    run_dir = runner.create_run(tiny_config(snap, tmp_path, max_steps=100_000), tmp_path / "runs")
    job_id = runner.detach(store, run_dir)  # as an app that stopped while training left it (or `train --detach`)
    store.close()
    pid = wait_for(lambda: runs.read_pid(run_dir))
    try:
        with running_app(tmp_path, app_env(tmp_path, db)) as (url, server), browser_page() as page:
            page.goto(f"{url}/Finetune")  # the app's start reattaches the run's job
            expect(page.get_by_text("Status: running", exact=False)).to_be_visible(timeout=60_000)
            expect(page.get_by_text(re.compile(r"step \d\d+/100000"))).to_be_visible(timeout=60_000)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=60) == 0
        store = Store(db)
        job = jobs_table.get(store, job_id)
        store.close()
        assert (job["status"], job["cancel_requested"], job["error"]) == ("running", False, None), job
        assert job["progress"] > 0 and job["message"].startswith("step ")  # mirrored by the app while it ran
        assert runs.pid_alive(pid, run_dir) and not (run_dir / runs.CANCEL).exists()
    finally:
        runner.request_stop(run_dir)
        wait_for(lambda: not runs.pid_alive(pid, run_dir), timeout=60)
