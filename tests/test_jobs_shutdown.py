"""Stopping the app: thread jobs end cancelled or failed with the reason; process-backed jobs stay reattachable."""

from __future__ import annotations

import threading

from curation.jobs import JobContext, JobRunner
from curation.store import Store, jobs_table


def test_shutdown_cancels_cooperative_jobs_fails_stuck_ones_and_keeps_training(store: Store) -> None:
    started = {name: threading.Event() for name in ("polite", "stuck", "train")}
    release = threading.Event()

    def polite(ctx: JobContext) -> dict:
        started["polite"].set()
        while True:
            ctx.progress(0.5, message="working")
            release.wait(0.05)

    def stuck(ctx: JobContext) -> dict:
        started["stuck"].set()
        release.wait(30)  # never reports progress, so never sees the cancel
        return {}

    def train(ctx: JobContext) -> dict:
        started["train"].set()
        release.wait(30)
        return {}

    runner = JobRunner(store)
    ids = {name: runner.submit(name, fn) for name, fn in (("polite", polite), ("stuck", stuck), ("train", train))}
    assert all(event.wait(10) for event in started.values())
    failed = runner.shutdown(keep_kinds=("train",), timeout=2)
    polite_row, stuck_row, train_row = (jobs_table.get(store, ids[n]) for n in ("polite", "stuck", "train"))
    release.set()
    for job_id in ids.values():  # let the threads end before the store closes
        runner.wait(job_id, timeout=10)
    assert (polite_row["status"], polite_row["message"]) == ("cancelled", "cancelled: the app stopped while it ran")
    assert (stuck_row["status"], stuck_row["error"]) == ("failed", "interrupted: the app stopped while it ran")
    assert failed == [ids["stuck"]]
    assert train_row["status"] == "running" and not train_row["cancel_requested"]
    # the stuck job returning late does not overwrite what shutdown recorded
    assert jobs_table.get(store, ids["stuck"])["status"] == "failed"


def test_shutdown_leaves_finished_jobs_alone(store: Store) -> None:
    runner = JobRunner(store)
    runner.run("quick", lambda ctx: {"n": 1})
    assert runner.shutdown() == []
    assert jobs_table.get(store, 1)["status"] == "succeeded"
