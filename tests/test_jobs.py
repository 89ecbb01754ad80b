"""Jobs: persisted progress, cancel (with and without partial results), failures, orphan recovery."""

from __future__ import annotations

import threading

import pytest

from curation.jobs import JobCancelled, JobContext, JobRunner
from curation.store import Store, jobs_table


def test_success_stores_result_and_full_progress(store: Store) -> None:
    seen: list[tuple[float, str | None]] = []
    result = JobRunner(store).run(
        "count",
        lambda ctx: ctx.progress(3, 3, "done counting") or {"n": 3},
        {"k": 1},
        on_progress=lambda f, m: seen.append((f, m)),
    )
    job = jobs_table.get(store, 1)
    assert result == {"n": 3} and seen == [(1.0, "done counting")]
    assert (job["status"], job["progress"], job["result"], job["params"]) == ("succeeded", 1.0, {"n": 3}, {"k": 1})
    assert job["started_at"] is not None and job["finished_at"] is not None


def test_progress_is_persisted_while_the_job_runs(store: Store) -> None:
    reported, release = threading.Event(), threading.Event()

    def work(ctx: JobContext) -> dict:
        ctx.progress(5, 10, "half way")
        reported.set()
        release.wait(10)
        return {}

    runner = JobRunner(store)
    job_id = runner.submit("slow", work)
    assert reported.wait(10)
    row = jobs_table.get(store, job_id)
    assert (row["status"], row["progress"], row["message"]) == ("running", 0.5, "half way")
    release.set()
    assert runner.wait(job_id, 10)["status"] == "succeeded"


def test_cancel_stops_a_running_job(store: Store) -> None:
    started = threading.Event()

    def forever(ctx: JobContext) -> dict:
        started.set()
        step = 0
        while True:
            step += 1
            ctx.progress(step % 100, 100, f"step {step}")
            threading.Event().wait(0.01)

    runner = JobRunner(store)
    job_id = runner.submit("forever", forever)
    assert started.wait(10)
    assert runner.cancel(job_id) is True
    row = runner.wait(job_id, 10)
    assert not runner.is_alive(job_id)
    assert (row["status"], row["message"]) == ("cancelled", "cancelled by user")
    assert runner.cancel(job_id) is False


def test_cancel_keeps_a_partial_result_when_the_job_returns_one(store: Store) -> None:
    def partial(ctx: JobContext) -> dict:
        done = 0
        try:
            for done in range(1, 1000):
                if done == 3:
                    jobs_table.request_cancel(store, ctx.job_id)
                    ctx.min_interval = 0  # check the flag at once
                ctx.progress(done, 1000)
        except JobCancelled:
            return {"done": done}
        return {"done": done}

    JobRunner(store).run("partial", partial)
    row = jobs_table.get(store, 1)
    assert (row["status"], row["result"]) == ("cancelled", {"done": 3})


def test_failure_is_recorded_with_the_error_text(store: Store) -> None:
    def broken(ctx: JobContext) -> dict:
        raise ValueError("threshold must be in (0, 1]; got 1.5")

    with pytest.raises(ValueError):
        JobRunner(store).run("broken", broken)
    row = jobs_table.get(store, 1)
    assert row["status"] == "failed"
    assert row["error"] == "ValueError: threshold must be in (0, 1]; got 1.5"
    assert "Traceback" in row["message"] and "broken" in row["message"]


def test_recover_orphans_marks_dead_jobs_failed_and_reattaches_others(store: Store) -> None:
    for kind in ("embed", "train", "dedup"):
        job_id = jobs_table.create(store, kind)
        jobs_table.mark_running(store, job_id)
    jobs_table.finish(store, 3, "succeeded")
    failed = JobRunner(store).recover_orphans({"train": lambda job: job["kind"] == "train"})
    assert failed == [1]
    statuses = {r["id"]: (r["status"], r["error"]) for r in store.query_dicts("SELECT id, status, error FROM jobs")}
    assert statuses == {
        1: ("failed", "interrupted: the app stopped while it ran"),
        2: ("running", None),
        3: ("succeeded", None),
    }


def test_cancel_of_an_unknown_job_is_a_clear_error(store: Store) -> None:
    with pytest.raises(KeyError, match="job 99 does not exist"):
        JobRunner(store).cancel(99)
