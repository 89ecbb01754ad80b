"""SQL for the jobs table: persisted status, progress, cancel flag, pid and run folder of long work.

Progress (the job's thread) and cancel (a page's thread) update the same row: every write goes through the store's
write transaction (`Store.execute` takes it), so neither overwrites nor aborts the other."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from curation import config
from curation.store.core import Store

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")


def create(store: Store, kind: str, params: dict[str, Any] | None = None, run_dir: str | None = None) -> int:
    job_id = store.next_id("seq_jobs")
    store.execute(
        "INSERT INTO jobs (id, kind, params, run_dir, author) VALUES (?, ?, ?, ?, ?)",
        [job_id, kind, json.dumps(params or {}, default=str), run_dir, config.get("author")],
    )
    return job_id


def mark_running(store: Store, job_id: int, pid: int | None = None) -> None:
    store.execute(
        "UPDATE jobs SET status = 'running', started_at = coalesce(started_at, now()), pid = coalesce(?, pid) "
        "WHERE id = ?",
        [pid, job_id],
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
    """Flag a job for cancellation; False if it had already finished."""
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
    rows = store.query_dicts("SELECT * FROM jobs WHERE id = ?", [job_id])
    if not rows:
        return None
    row = rows[0]
    for key in ("params", "result"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def list_jobs(store: Store, kinds: list[str] | None = None, limit: int = 100) -> pd.DataFrame:
    cond, params = ("list_contains(?, kind)", [kinds]) if kinds else ("TRUE", [])
    return store.query_df(
        "SELECT id, kind, status, progress, message, error, pid, run_dir, author, created_at, started_at, finished_at "
        f"FROM jobs WHERE {cond} ORDER BY id DESC LIMIT ?",
        [*params, int(limit)],
    )


def unfinished(store: Store) -> list[dict[str, Any]]:
    return store.query_dicts("SELECT * FROM jobs WHERE NOT list_contains(?, status) ORDER BY id", [list(FINISHED)])
