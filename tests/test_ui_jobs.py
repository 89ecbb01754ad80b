"""ui.jobs.job_panel: a job that ends while a page is being drawn gets the whole page drawn again (AppTest)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest


def _page(db: str) -> None:
    import streamlit as st

    from curation.jobs import JobRunner
    from curation.store import Store, jobs_table
    from ui import jobs as ui_jobs

    store = st.session_state.setdefault("store", Store(db))
    job_id = int(store.query_value("SELECT max(id) FROM jobs"))
    running = jobs_table.get(store, job_id)["status"] in ui_jobs.ACTIVE
    st.caption(f"top of the page drawn with the job {'running' if running else 'ended'}")
    if st.session_state.pop("end_the_job_now", False):  # the job ends after the top of the page was drawn
        jobs_table.finish(store, job_id, "succeeded", result={"n": 1})
    ui_jobs.job_panel(store, JobRunner(store), job_id, key="t_job")


def test_a_job_ending_mid_run_redraws_the_page(tmp_path: Path) -> None:
    from curation.store import Store, jobs_table

    db = str(tmp_path / "jobs.duckdb")
    store = Store(db)
    job_id = jobs_table.create(store, "test")
    jobs_table.mark_running(store, job_id)
    store.close()

    at = AppTest.from_function(_page, args=(db,), default_timeout=30).run()
    assert at.caption[0].value == "top of the page drawn with the job running"
    at.session_state["end_the_job_now"] = True
    at.run()
    assert not at.exception, at.exception
    # before the fix, the page stayed as drawn while the job ran (a stale count, a disabled Run button)
    assert at.caption[0].value == "top of the page drawn with the job ended"
    at.session_state["store"].close()
