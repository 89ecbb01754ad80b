"""Generate-page sections for LLM-judge ratings (run, histogram, reject below) and Evol-Instruct rewrites.

They act on the shared filter (last chosen on Browse / Review) with the backend chosen for generation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt
import streamlit as st

from curation.generate import endpoints, evol
from curation.generate.llm import make_llm
from curation.jobs import JobRunner
from curation.operations import judge as ratings
from curation.store import Store, examples
from curation.store import ratings as ratings_table
from ui import jobs as ui_jobs
from ui.drop_report import latest_report
from ui.feedback import refusal_shown
from ui.filters import current_filter

Flash = Callable[..., None]


@refusal_shown
def _start(store: Store, runner: JobRunner, flash: Flash, kind: str, make_job: Callable, params: dict) -> None:
    backend, options, concurrency = st.session_state.get("gen_backend_args", ("fake", {}, 16))
    try:
        llm = make_llm(backend, allowed=endpoints.allowed(store), **options)
        job = make_job(llm, backend, concurrency)
    except ValueError as err:
        flash("error", "The job did not start.", str(err))
        return
    job_id = runner.submit(kind, job, params | {"backend": backend, "model": llm.name, "concurrency": concurrency})
    st.session_state[f"judge_{kind}_job"] = job_id
    flash("info", f"Started {kind} job #{job_id} with the {backend} backend.")


SUMMARIES = {
    "rating": lambda job: (
        f"Job #{job['id']} rated {job['result']['rated']:,} of {job['result']['rows']:,} rows under rubric "
        f"{job['result']['rubric']} ({job['result']['unusable']:,} answers without a usable score)."
    ),
    "evol": lambda job: (
        f"Job #{job['id']} rewrote {job['result']['parents']:,} rows and added {job['result']['rows']:,} pending rows "
        f"as source {job['result']['source']} ({job['result']['empty_rewrites']:,} empty rewrites dropped)."
    ),
}


def _job_status(store: Store, runner: JobRunner, kind: str) -> None:
    """The newest job of `kind`: live progress, then what it did; the page redraws itself when it ends."""
    job_id = ui_jobs.current_job_id(store, [kind], f"judge_{kind}_job")
    if job_id is not None:
        ui_jobs.job_panel(store, runner, job_id, key=f"judge_{kind}_panel", summary=SUMMARIES[kind])


def ratings_section(store: Store, runner: JobRunner, flash: Flash, author: str) -> None:
    """Rubric editor, a rating job over the shared filter, the score histogram and "reject all below X"."""
    flt = current_filter()
    known = ratings_table.rubrics(store)
    rubric = st.text_input("Rubric name", value="accuracy", key="judge_rubric").strip() or "accuracy"
    prompt = st.text_area(
        "Rubric prompt ({instruction}, {input}, {output}; or {conversation}: every turn of a chat)",
        value=known.get(rubric, ratings.DEFAULT_RUBRIC),
        height=220,
        key=f"judge_prompt_{rubric}",
    )
    rerate = st.checkbox("Rate rows already rated under this rubric again", key="judge_rerate")
    count = examples.count(store, flt)
    st.caption(f"Rows: the shared filter ({flt.describe()}): {count:,}.")
    try:
        cfg = ratings.RatingConfig(rubric=rubric, prompt=prompt, rerate=rerate)
    except ValueError as err:
        st.error(str(err))
        return
    make = lambda llm, _backend, concurrency: ratings.rating_job(llm, cfg, flt, concurrency=concurrency)  # noqa: E731
    params = {"rubric": rubric, "filter": flt.to_dict()}
    st.button(
        f"Rate {count:,} rows", key="judge_rate", on_click=_start, args=(store, runner, flash, "rating", make, params)
    )
    _job_status(store, runner, "rating")
    scores = ratings_table.ratings(store, rubric, flt)
    if scores.empty:
        st.caption("No ratings under this rubric for these rows yet.")
        return
    chart = (
        alt.Chart(scores.dropna(subset=["score"]))
        .mark_bar()
        .encode(x=alt.X("score:Q", bin=alt.Bin(step=0.5), title="judge score"), y=alt.Y("count():Q", title="rows"))
    )
    st.altair_chart(chart, width="stretch")
    st.caption(f"{scores['score'].notna().sum():,} scored, {scores['score'].isna().sum():,} without a usable score.")
    threshold = st.number_input("Reject all below", 0.0, 100.0, 3.0, 0.5, key="judge_threshold")
    below = len(ratings_table.ids_below(store, rubric, threshold, flt))
    st.button(
        f"Reject {below:,} rows below {threshold:g}",
        key="judge_reject",
        disabled=below == 0,
        on_click=_reject,
        args=(store, flash, rubric, threshold, flt, author),
    )
    latest_report(store, key="judge_report", kinds=["rating-reject"], label="What did the last reject-below remove?")


@refusal_shown
def _reject(store: Store, flash: Flash, rubric: str, threshold: float, flt: Any, author: str) -> None:
    action = ratings.reject_below(store, rubric, threshold, author=author, flt=flt)
    if action is None:
        flash("info", "No rows are rated below that score.")
    else:
        flash("success", f"Rejected {action.rows:,} rows (action #{action.action_id}; undo it on the Overview page).")


def evol_section(store: Store, runner: JobRunner, flash: Flash) -> None:
    """Evol-Instruct: rewrite the shared filter's rows deeper or broader; results wait for review below."""
    flt = current_filter()
    mode = st.radio("Rewrite", evol.MODES, horizontal=True, key="judge_evol_mode")
    prompt = st.text_area(
        "Rewrite prompt ({instruction})", value=evol.PROMPTS[mode], height=160, key=f"judge_evol_{mode}"
    )
    count = examples.count(store, flt)
    st.caption(f"Rows: the shared filter ({flt.describe()}): {count:,}. New rows are pending, linked to their parent.")
    try:
        cfg = evol.EvolConfig(mode=mode, prompt=prompt)
    except ValueError as err:
        st.error(str(err))
        return

    def make(llm: Any, backend: str, concurrency: int):
        return evol.evol_job(llm, cfg, flt, backend=backend, concurrency=concurrency)

    params = {"mode": mode, "filter": flt.to_dict()}
    st.button(
        f"Rewrite {count:,} rows",
        key="judge_evolve",
        disabled=count == 0,
        on_click=_start,
        args=(store, runner, flash, "evol", make, params),
    )
    _job_status(store, runner, "evol")
