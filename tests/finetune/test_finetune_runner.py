"""Job control over the real trainer process: kill -9 -> failed with log tail; restart reattaches; cancel."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from finetune_support import (  # noqa: F401
    TAUGHT,
    fake_trainer,
    make_snapshot,
    snapshot_rows,
    tiny_config,
    tiny_model_dir,
    wait_for,
)

from curation.finetune import runner, runs
from curation.jobs import JobRunner
from curation.store import jobs_table


@pytest.fixture
def long_run(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """Settings for a run that would take minutes (so it is still going when the test acts on it)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT), snapshot_rows(TAUGHT, start=10))
    return tiny_config(snap, tiny_model_dir, max_steps=5000, save_interval=0)


def _first_step(run_dir: Path) -> bool:
    return any(r.get("type") == "step" for r in runs.read_progress(run_dir))


def _finished(store, job_id: int) -> dict | None:
    job = jobs_table.get(store, job_id)
    return job if job["status"] in jobs_table.FINISHED else None


def test_kill_9_marks_the_job_failed_with_exit_code_and_log_tail(store, long_run, tmp_path: Path) -> None:
    jobs = JobRunner(store)
    job_id, run_dir = runner.launch(jobs, long_run, tmp_path / "runs", poll_s=0.1)
    wait_for(lambda: _first_step(run_dir))
    job = jobs_table.get(store, job_id)
    assert job["pid"] == runs.read_pid(run_dir) and job["run_dir"] == str(run_dir)
    os.kill(job["pid"], signal.SIGKILL)
    job = wait_for(lambda: _finished(store, job_id))
    assert job["status"] == "failed"
    assert "training process exit code -9 (killed by SIGKILL; out of memory or killed by hand)" in job["error"]
    assert "last lines of the log" in job["error"] and "step 1/5000 loss" in job["error"]
    assert runs.status_of(run_dir) == "interrupted"


def test_restarted_app_reattaches_to_a_live_run_and_cancel_saves_the_adapter(store, long_run, tmp_path) -> None:
    run_dir = runner.create_run(long_run, tmp_path / "runs")
    job_id = runner.detach(store, run_dir)  # as `train --detach`, or an app that stopped while training
    wait_for(lambda: _first_step(run_dir))

    restarted = JobRunner(store)
    handlers = {runner.JOB_KIND: lambda job: runner.reattach(job, restarted, poll_s=0.1)}
    assert restarted.recover_orphans(handlers) == []
    job = wait_for(lambda: (j := jobs_table.get(store, job_id))["progress"] > 0 and j)
    assert job["status"] == "running" and job["message"].startswith("step ")

    restarted.cancel(job_id)
    job = wait_for(lambda: _finished(store, job_id))
    assert job["status"] == "cancelled", job
    assert (run_dir / runs.CANCEL).exists() and runs.status_of(run_dir) == "cancelled"
    assert (run_dir / runs.ADAPTER / "adapter_model.safetensors").is_file()
    assert 0 < job["result"]["step"] < 5000 and (runs.last_checkpoint(run_dir) / "optimizer.pt").is_file()


def test_a_run_that_died_while_the_app_was_down_is_failed_with_its_log(store, long_run, tmp_path) -> None:
    run_dir = runner.create_run(long_run, tmp_path / "runs")
    job_id = runner.detach(store, run_dir)
    wait_for(lambda: "reading snapshot" in runs.log_tail(run_dir))
    os.kill(runs.read_pid(run_dir), signal.SIGKILL)
    wait_for(lambda: not runs.pid_alive(runs.read_pid(run_dir), run_dir))

    restarted = JobRunner(store)
    restarted.recover_orphans({runner.JOB_KIND: lambda job: runner.reattach(job, restarted, poll_s=0.1)})
    job = wait_for(lambda: _finished(store, job_id))
    assert job["status"] == "failed"
    assert "exit code unknown" in job["error"] and "reading snapshot" in job["error"]


@pytest.fixture
def fake_run(tmp_path: Path, fake_trainer: Path):  # noqa: F811
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT))
    return runner.create_run(tiny_config(snap, tmp_path, max_steps=6, eval_interval=2), tmp_path / "runs")


def test_failure_keeps_exit_code_and_log_then_resume_continues(store, fake_run: Path, monkeypatch) -> None:
    jobs = JobRunner(store)
    monkeypatch.setenv("FAKE_TRAINER_FAIL_AT", "3")
    with pytest.raises(runner.TrainingFailed, match=r"^training process exit code 3\nlast lines of the log") as err:
        runner.run_foreground(jobs, fake_run, poll_s=0.05)
    assert "RuntimeError: fake failure" in str(err.value)
    failed = runner.job_for_run(store, fake_run)
    assert failed["status"] == "failed" and "exit code 3" in failed["error"] and failed["run_dir"] == str(fake_run)
    assert runs.status_of(fake_run) == "interrupted"

    monkeypatch.delenv("FAKE_TRAINER_FAIL_AT")
    job = jobs.wait(runner.resume(jobs, fake_run, poll_s=0.05), timeout=60)
    assert job["status"] == "succeeded" and job["result"]["step"] == 6 and job["progress"] == 1.0
    starts = [r["resumed_from"] for r in runs.read_progress(fake_run) if r["type"] == "start"]
    assert starts == [0, 2]
    with pytest.raises(ValueError, match="already finished; start a new run"):
        runner.resume(jobs, fake_run)


def test_a_cancel_file_from_outside_ends_the_job_cancelled(store, fake_run: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_TRAINER_STEP_S", "0.3")
    jobs = JobRunner(store)
    job_id = runner.start(jobs, fake_run, poll_s=0.05)
    wait_for(lambda: _first_step(fake_run))
    with pytest.raises(ValueError, match="is still running; cancel it first"):
        runner.resume(jobs, fake_run)
    runner.request_stop(fake_run)  # e.g. `touch RUN_DIR/cancel`, or `jobs cancel` with no app running
    job = jobs.wait(job_id, timeout=60)
    assert job["status"] == "cancelled" and 0 < job["result"]["step"] < 6


def test_sigterm_and_the_cancel_file_both_ask_the_trainer_to_stop(tmp_path: Path) -> None:
    from curation.finetune.train import StopRequest

    before = signal.getsignal(signal.SIGTERM)
    try:
        stop = StopRequest(tmp_path)
        assert not stop
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for(lambda: bool(stop), timeout=5)
        by_file = StopRequest(tmp_path)
        assert not by_file
        runner.request_stop(tmp_path)
        assert by_file and (tmp_path / runs.CANCEL).read_text() == "cancel requested\n"
    finally:
        signal.signal(signal.SIGTERM, before)


def _at(t: float, **record) -> dict:
    return record | {"time": t}


PHASE_CASES = [
    ([], "starting", 0.0, "starting: waiting for the trainer", None),
    ([_at(100, type="phase", phase="loading", done=0, total=0)], "loading", 0.0, "loading model and data", 30.0),
    (
        [_at(100, type="phase", phase="loading"), _at(220, type="phase", phase="evaluating", done=3, total=12)],
        "evaluating", 0.25, "evaluating on the held-out rows: batch 3/12", 30.0,
    ),
    (
        [_at(100, type="phase", phase="loading"), _at(110, type="phase", phase="training", done=0, total=8),
         _at(120, type="step", step=2, total_steps=8, loss=1.5, tokens_per_s=10.0, eta_s=90)],
        "training", 0.25, "step 2/8 · loss 1.5000 · 10 tok/s · ETA 1m 30s", 30.0,
    ),
    (  # the final evaluation after the last step: no "ETA 0m 00s"
        [_at(100, type="phase", phase="loading"),
         _at(120, type="step", step=8, total_steps=8, loss=0.5, tokens_per_s=10.0, eta_s=0),
         _at(121, type="phase", phase="evaluating", done=0, total=40)],
        "evaluating", 0.0, "evaluating on the held-out rows: batch 0/40", 30.0,
    ),
    ([_at(100, type="phase", phase="loading"), _at(400, type="phase", phase="saving")], "saving", 1.0,
     "saving the adapter", 30.0),
]  # fmt: skip


@pytest.mark.parametrize(("records", "phase", "fraction", "message", "_"), PHASE_CASES)
def test_run_state_names_the_phase_with_its_own_progress(records, phase, fraction, message, _) -> None:
    state = runner.run_state(records)
    assert (state["phase"], state["fraction"], state["message"]) == (phase, fraction, message)


def test_elapsed_is_wall_time_of_the_session_not_the_sum_of_step_times() -> None:
    first = [_at(0, type="phase", phase="loading"), _at(10, type="step", step=1, total_steps=2, loss=1.0, elapsed_s=2)]
    resumed = [*first, _at(500, type="phase", phase="loading"), _at(530, type="phase", phase="evaluating", total=4)]
    assert runner.run_state(first, now=468.0)["elapsed_s"] == 468.0  # 7.8 minutes, whatever the steps took
    assert runner.run_state(first)["elapsed_s"] == 10.0  # finished: up to the last record
    assert runner.run_state(resumed, now=560.0)["elapsed_s"] == 60.0  # a resumed session counts from its restart
    assert [runner.elapsed_text(s) for s in (None, 7, 468, 3725)] == ["–", "0m 07s", "7m 48s", "1h 02m"]
