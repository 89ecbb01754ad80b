"""Background jobs on a page: live progress while a job runs, then one whole-page rerun so the page shows its result.

`job_panel` is the one way a page shows a job: a finished job is drawn once (no polling); a queued or running one
is drawn in a fragment that polls its row every second and, when the job ends, reruns the whole page, so counts,
lists and buttons elsewhere on the page reflect the result without a click. Job rows live in the database, so a job
keeps running when the tab that started it closes, and any session that opens the page later sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from curation.jobs import JobRunner
from curation.store import Store, jobs_table
from ui.feedback import refusal_shown
from ui.text import inert

ACTIVE = ("queued", "running")
Job = dict[str, Any]


def current_job_id(store: Store, kinds: list[str], session_key: str) -> int | None:
    """The newest job of `kinds` still running (any session), else the one this session started, else the newest."""
    jobs = jobs_table.list_jobs(store, kinds, 20)
    active = jobs[jobs["status"].isin(ACTIVE)]
    if len(active):
        return int(active["id"].iloc[0])
    if st.session_state.get(session_key) is not None:
        return int(st.session_state[session_key])
    return int(jobs["id"].iloc[0]) if len(jobs) else None


def any_active(store: Store, kinds: list[str]) -> bool:
    """True while a job of `kinds` is queued or running (e.g. to disable a second Start button)."""
    return bool(jobs_table.list_jobs(store, kinds, 5)["status"].isin(ACTIVE).any())


def job_panel(
    store: Store,
    runner: JobRunner,
    job_id: int,
    *,
    key: str,
    summary: Callable[[Job], str] | None = None,
    on_finish: Callable[[Job], None] | None = None,
    details: Callable[[Job], None] | None = None,
) -> Job | None:
    """Progress, cancel, and the outcome of job `job_id`; the page reruns by itself when the job ends.

    `summary(job)` says in words what a succeeded job did; `on_finish(job)` runs once in the session that watched
    the job end (before the page reruns); `details(job)` draws more (charts) under the panel, live too.
    """
    job = jobs_table.get(store, job_id)
    if job is None:
        return None
    if job["status"] in ACTIVE:
        _seen(ACTIVE_SEEN).add(job_id)
        _live_panel(store, runner, job_id, key, summary, on_finish, details)
    elif job_id not in _seen(END_SEEN):
        # The job may have ended during this run, after parts of the page above were drawn while it still ran
        # (a disabled Run button, a count of rows still to do): draw the whole page once more.
        _seen(END_SEEN).add(job_id)
        if on_finish is not None and job_id in _seen(ACTIVE_SEEN):
            on_finish(job)
        st.rerun(scope="app")
    else:
        _draw(job, runner, key, summary, details)
    return job


ACTIVE_SEEN, END_SEEN = "_jobs_seen_active", "_jobs_seen_ended"


def _seen(name: str) -> set[int]:
    """Job ids this session has drawn running (ACTIVE_SEEN) or has redrawn the page for after they ended."""
    return st.session_state.setdefault(name, set())


@st.fragment(run_every=1)
def _live_panel(
    store: Store,
    runner: JobRunner,
    job_id: int,
    key: str,
    summary: Callable[[Job], str] | None,
    on_finish: Callable[[Job], None] | None,
    details: Callable[[Job], None] | None,
) -> None:
    job = jobs_table.get(store, job_id)
    if job is None:
        return
    _draw(job, runner, key, summary, details)
    if job["status"] not in ACTIVE:
        _seen(END_SEEN).add(job_id)
        if on_finish is not None:
            on_finish(job)
        st.rerun(scope="app")


def describe(job: Job, summary: Callable[[Job], str] | None = None) -> str:
    """One line on how a finished job ended: the summary of what it did, or its last message."""
    status, message = job["status"], job.get("message") or ""
    if status == "succeeded" and summary is not None and job.get("result"):
        return summary(job)
    if status == "succeeded":
        return f"Job #{job['id']} finished: {message or 'done'}."
    if status == "cancelled":
        return f"Job #{job['id']} was cancelled: {message or 'stopped on request'}."
    return f"Job #{job['id']} failed."


def _draw(
    job: Job,
    runner: JobRunner,
    key: str,
    summary: Callable[[Job], str] | None,
    details: Callable[[Job], None] | None,
) -> None:
    status = job["status"]
    st.progress(float(job["progress"] or 0.0), text=f"job #{job['id']} · {job['kind']} · {status}")
    if status in ACTIVE:
        st.text(job.get("message") or ("waiting to start" if status == "queued" else "starting"))
        st.button("Cancel", key=f"{key}_cancel", on_click=refusal_shown(runner.cancel), args=(int(job["id"]),))
    elif status == "failed":
        st.error(describe(job))
        st.code(job.get("error") or job.get("message") or "no error text recorded", language=None, wrap_lines=True)
    elif status == "cancelled":
        st.warning(inert(describe(job)))
    else:
        st.success(inert(describe(job, summary)))
    if details is not None:
        details(job)
