"""SQL for the jobs table: persisted status, progress, cancel flag, pid and run folder of long work.

Progress (the job's thread) and cancel (a page's thread) update the same row: every write goes through the store's
write transaction (`Store.execute` takes it), so neither overwrites nor aborts the other.

Every job row names the process that runs it (pid, start time, host). Wherever jobs are looked up (`get`,
`list_jobs`, `unfinished`), an unfinished job whose process is gone (kill -9, a crash, power loss) is first marked
failed, so `generate --resume` and `jobs cancel` never wait on a run that nobody runs.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pandas as pd

from curation import config
from curation.store.core import Store

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")


def process_started(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[19])


def this_process() -> tuple[int, int | None, str]:
    """(pid, start time, host) of the running process: who owns the jobs it starts."""
    return os.getpid(), process_started(os.getpid()), socket.gethostname()


def owner_alive(job: dict[str, Any]) -> bool:
    """Whether the process that runs a job still exists (same pid *and* start time, so a reused pid is not it).

    Rows without an owner (older ones) or owned on another host cannot be checked here and count as alive.
    """
    pid, started, host = job.get("owner_pid"), job.get("owner_started"), job.get("owner_host")
    if pid is None or host != socket.gethostname():
        return True
    if started is None or not Path("/proc").is_dir():  # no /proc: only whether the pid exists
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    return process_started(int(pid)) == int(started)


def _worker_alive(job: dict[str, Any]) -> bool:
    """A job whose work runs in a process of its own (training) lives on while that process does."""
    pid = job.get("pid")
    return pid is not None and pid != job.get("owner_pid") and process_started(int(pid)) is not None


def reap_dead(store: Store) -> list[int]:
    """Mark failed every unfinished job whose owning process is gone; returns their ids."""
    if store.read_only:
        return []
    dead = [job for job in _unfinished_rows(store) if not owner_alive(job) and not _worker_alive(job)]
    for job in dead:
        store.execute(
            "UPDATE jobs SET status = 'failed', finished_at = now(), error = ? WHERE id = ? AND NOT list_contains(?, "
            "status)",
            [f"interrupted: its process (pid {job['owner_pid']}) is gone", job["id"], list(FINISHED)],
        )
    return [int(job["id"]) for job in dead]


def create(store: Store, kind: str, params: dict[str, Any] | None = None, run_dir: str | None = None) -> int:
    job_id = store.next_id("seq_jobs")
    pid, started, host = this_process()
    store.execute(
        "INSERT INTO jobs (id, kind, params, run_dir, author, owner_pid, owner_started, owner_host) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [job_id, kind, json.dumps(params or {}, default=str), run_dir, config.get("author"), pid, started, host],
    )
    return job_id


def mark_running(store: Store, job_id: int, pid: int | None = None) -> None:
    """The job runs now, in this process (its owner from here on)."""
    owner, started, host = this_process()
    store.execute(
        "UPDATE jobs SET status = 'running', started_at = coalesce(started_at, now()), pid = coalesce(?, pid), "
        "owner_pid = ?, owner_started = ?, owner_host = ? WHERE id = ?",
        [pid, owner, started, host, job_id],
    )


def set_progress(store: Store, job_id: int, progress: float, message: str | None) -> None:
    store.execute(
        "UPDATE jobs SET progress = ?, message = coalesce(?, message) WHERE id = ?",
        [max(0.0, min(1.0, float(progress))), message, job_id],
    )


def set_run_info(store: Store, job_id: int, *, pid: int | None = None, run_dir: str | None = None) -> None:
    store.execute(
        "UPDATE jobs SET pid = coalesce(?, pid), run_dir = coalesce(?, run_dir) WHERE id = ?",
        [pid, run_dir, job_id],
    )


def finish(
    store: Store,
    job_id: int,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    message: str | None = None,
) -> None:
    if status not in FINISHED:
        raise ValueError(f"status must be one of {FINISHED}; got {status!r}")
    store.execute(
        "UPDATE jobs SET status = ?, result = ?, error = ?, message = coalesce(?, message), finished_at = now(), "
        "progress = CASE WHEN ? = 'succeeded' THEN 1 ELSE progress END WHERE id = ?",
        [status, json.dumps(result, default=str) if result is not None else None, error, message, status, job_id],
    )


def request_cancel(store: Store, job_id: int) -> bool:
    """Flag a job for cancellation; False if it had already finished (or its process is gone)."""
    reap_dead(store)
    with store.transaction():  # the status check and the flag in one write, so a finish cannot fall between them
        status = store.query_value("SELECT status FROM jobs WHERE id = ?", [job_id])
        if status is None:
            raise KeyError(f"job {job_id} does not exist")
        if status in FINISHED:
            return False
        store.execute("UPDATE jobs SET cancel_requested = true WHERE id = ?", [job_id])
    return True


def cancel_requested(store: Store, job_id: int) -> bool:
    return bool(store.query_value("SELECT cancel_requested FROM jobs WHERE id = ?", [job_id]))


def get(store: Store, job_id: int) -> dict[str, Any] | None:
    reap_dead(store)
    rows = store.query_dicts("SELECT * FROM jobs WHERE id = ?", [job_id])
    if not rows:
        return None
    row = rows[0]
    for key in ("params", "result"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def list_jobs(store: Store, kinds: list[str] | None = None, limit: int = 100) -> pd.DataFrame:
    reap_dead(store)
    cond, params = ("list_contains(?, kind)", [kinds]) if kinds else ("TRUE", [])
    return store.query_df(
        "SELECT id, kind, status, progress, message, error, pid, run_dir, author, created_at, started_at, finished_at "
        f"FROM jobs WHERE {cond} ORDER BY id DESC LIMIT ?",
        [*params, int(limit)],
    )


def unfinished(store: Store) -> list[dict[str, Any]]:
    reap_dead(store)
    return _unfinished_rows(store)


def _unfinished_rows(store: Store) -> list[dict[str, Any]]:
    return store.query_dicts("SELECT * FROM jobs WHERE NOT list_contains(?, status) ORDER BY id", [list(FINISHED)])
