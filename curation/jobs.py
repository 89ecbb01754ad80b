"""One mechanism for long work: persisted job rows, progress, cancel, errors kept as text.

A job is a function `fn(ctx) -> dict` run in a background thread (`JobRunner.submit`) or in the caller's
thread (`JobRunner.run`, used by the CLI). The function reports with `ctx.progress(done, total, message)`,
which also raises `JobCancelled` once the user asked to cancel. Work that runs in its own process (training)
records its pid and run folder with `ctx.set_run_info` and polls `ctx.cancelled()`.
"""

from __future__ import annotations

import concurrent.futures.thread
import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from curation import identity
from curation.store import Store, jobs_table, team

ProgressHook = Callable[[float, str | None], None]


class JobCancelled(Exception):
    """Raised inside a job function when the user asked to cancel."""


@dataclass
class JobContext:
    """Handed to a job function: report progress, check for cancellation."""

    store: Store
    job_id: int
    on_progress: ProgressHook | None = None
    min_interval: float = 0.25
    _last_write: float = field(default=0.0, init=False)
    _cancel_checked: float = field(default=0.0, init=False)
    _cancelled: bool = field(default=False, init=False)

    def cancelled(self) -> bool:
        """True once cancellation was requested (checked against the store at most every 0.25 s)."""
        now = time.monotonic()
        if not self._cancelled and now - self._cancel_checked >= self.min_interval:
            self._cancel_checked = now
            self._cancelled = jobs_table.cancel_requested(self.store, self.job_id)
        return self._cancelled

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelled(f"job {self.job_id} cancelled")

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress (done/total, or a fraction when total is None); raises JobCancelled if asked."""
        fraction = done / total if total else float(done)
        if self.on_progress:
            self.on_progress(fraction, message)
        now = time.monotonic()
        if now - self._last_write >= self.min_interval or fraction >= 1.0:
            self._last_write = now
            jobs_table.set_progress(self.store, self.job_id, fraction, message)
        self.check_cancelled()

    def set_run_info(self, *, pid: int | None = None, run_dir: str | None = None) -> None:
        jobs_table.set_run_info(self.store, self.job_id, pid=pid, run_dir=run_dir)


JobFn = Callable[[JobContext], dict[str, Any] | None]


def _process_stopping() -> bool:
    """True once the interpreter is shutting down (Ctrl-C / SIGTERM): thread pools then refuse new work, so a job
    fails for that reason, not its own."""
    return sys.is_finalizing() or bool(getattr(concurrent.futures.thread, "_shutdown", False))


class JobRunner:
    """Starts jobs, runs them to a recorded end state, and cancels them on request."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._threads: dict[int, threading.Thread] = {}
        self._stop_reason: str | None = None  # set by shutdown: why jobs are being cancelled

    def _execute(self, job_id: int, fn: JobFn, on_progress: ProgressHook | None) -> dict[str, Any] | None:
        ctx = JobContext(self.store, job_id, on_progress)
        jobs_table.mark_running(self.store, job_id)
        try:
            result = fn(ctx)
        except JobCancelled:
            reason = f"cancelled: {self._stop_reason}" if self._stop_reason else "cancelled by user"
            self._finish(job_id, "cancelled", message=reason)
            raise
        except Exception as err:
            stopping = "interrupted: the app stopped while it ran; " if _process_stopping() else ""
            self._finish(
                job_id,
                "failed",
                error=f"{stopping}{type(err).__name__}: {err}",
                message=traceback.format_exc(limit=8)[-4000:],
            )
            raise
        # ask the store itself: ctx.cancelled() is throttled, and a job may stop early because it saw the request
        if ctx.cancelled() or jobs_table.cancel_requested(self.store, job_id):
            reason = f"cancelled ({self._stop_reason})" if self._stop_reason else "cancelled"
            self._finish(job_id, "cancelled", result=result, message=f"{reason}; partial result kept")
        else:
            self._finish(job_id, "succeeded", result=result, message="done")
        return result

    def _finish(self, job_id: int, status: str, **outcome: Any) -> None:
        """Record how a job ended, unless shutdown already recorded it (a late return must not overwrite that)."""
        if self._stop_reason and (jobs_table.get(self.store, job_id) or {}).get("status") in jobs_table.FINISHED:
            return
        jobs_table.finish(self.store, job_id, status, **outcome)

    def run(
        self, kind: str, fn: JobFn, params: dict[str, Any] | None = None, on_progress: ProgressHook | None = None
    ) -> dict[str, Any] | None:
        """Run a job in this thread (CLI, tests); exceptions propagate after being recorded."""
        team.authorize(self.store, kind)
        job_id = jobs_table.create(self.store, kind, params)
        return self._execute(job_id, fn, on_progress)

    def submit(self, kind: str, fn: JobFn, params: dict[str, Any] | None = None) -> int:
        """Start a job in a background thread; returns its id at once."""
        team.authorize(self.store, kind)
        job_id = jobs_table.create(self.store, kind, params)
        self.adopt(job_id, fn)
        return job_id

    def adopt(self, job_id: int, fn: JobFn) -> None:
        """Run `fn` for an existing job row in a background thread (e.g. reattaching to a live training process)."""

        user = identity.current()  # the submitting user acts for the whole job, in its own thread

        def target() -> None:
            with contextlib.suppress(Exception), identity.acting_as(user):
                self._execute(job_id, fn, None)

        thread = threading.Thread(target=target, name=f"job-{job_id}", daemon=True)
        self._threads[job_id] = thread
        thread.start()

    def cancel(self, job_id: int) -> bool:
        """Ask a job to stop at its next progress report; False if it had already finished."""
        job = jobs_table.get(self.store, job_id)
        team.authorize(self.store, job["kind"] if job else "jobs")  # cancelling needs the role that starts it
        return jobs_table.request_cancel(self.store, job_id)

    def wait(self, job_id: int, timeout: float | None = None) -> dict[str, Any] | None:
        """Block until a job started here ends; returns its row."""
        thread = self._threads.get(job_id)
        if thread:
            thread.join(timeout)
        return jobs_table.get(self.store, job_id)

    def is_alive(self, job_id: int) -> bool:
        thread = self._threads.get(job_id)
        return bool(thread and thread.is_alive())

    def shutdown(self, keep_kinds: tuple[str, ...] = (), timeout: float = 5.0) -> list[int]:
        """At process exit: ask this process's running thread jobs to stop; any still running is marked failed.

        Jobs whose kind is in `keep_kinds` (training, whose work runs in its own process) are left running so the
        next start reattaches them. Returns the ids marked failed.
        """
        alive = {job_id for job_id, thread in self._threads.items() if thread.is_alive()}
        unfinished = jobs_table.unfinished(self.store)
        stopping = [job["id"] for job in unfinished if job["id"] in alive and job["kind"] not in keep_kinds]
        self._stop_reason = "the app stopped while it ran"
        for job_id in stopping:
            jobs_table.request_cancel(self.store, job_id)
        deadline = time.monotonic() + timeout
        for job_id in stopping:
            self._threads[job_id].join(max(0.0, deadline - time.monotonic()))
        failed = [job["id"] for job in jobs_table.unfinished(self.store) if job["id"] in stopping]
        for job_id in failed:
            jobs_table.finish(self.store, job_id, "failed", error=f"interrupted: {self._stop_reason}")
        return failed

    def recover_orphans(self, reattach: dict[str, Callable[[dict[str, Any]], bool]] | None = None) -> list[int]:
        """At start-up: jobs left 'running' by a previous process are reattached or marked failed.

        `reattach` maps a job kind to a function that takes the job row and returns True if it took the
        job over (e.g. a training process that is still alive). Returns the ids marked failed.
        """
        failed = []
        for job in jobs_table.unfinished(self.store):
            if self.is_alive(job["id"]):
                continue
            handler = (reattach or {}).get(job["kind"])
            if handler and handler(job):
                continue
            jobs_table.finish(self.store, job["id"], "failed", error="interrupted: the app stopped while it ran")
            failed.append(job["id"])
        return failed
