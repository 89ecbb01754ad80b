"""One panel for every curation operation: pick it, set its parameters, score the filtered rows as a job, see the
score histogram (or label counts) and what its decisions would change (counts and samples per change), apply them
as one action, undo it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from curation.filters import ExampleFilter
from curation.jobs import JobRunner
from curation.operations import base, run
from curation.store import Store, examples
from curation.store import signals as signals_store
from ui import jobs as ui_jobs
from ui.actions import recent_actions
from ui.feedback import refusal_shown

Flash = Callable[..., None]
SAMPLES = 5


def _param_widget(op: base.Operation, name: str, default: Any, key: str) -> Any:
    label, wkey = name.replace("_", " "), f"{key}_p_{op.name}_{name}"
    if isinstance(default, bool):
        return st.checkbox(label, value=default, key=wkey)
    if isinstance(default, int):
        return int(st.number_input(label, value=default, step=1, key=wkey))
    if isinstance(default, float):
        return float(st.number_input(label, value=default, step=0.05, key=wkey))
    if isinstance(default, list | dict):
        return default  # structured parameters: CLI / config only
    text = st.text_input(label, value="" if default is None else str(default), key=wkey)
    return None if default is None and not text.strip() else text


def param_widgets(op: base.Operation, key: str) -> dict[str, Any]:
    """One widget per parameter, typed by its default."""
    if not op.defaults:
        return {}
    columns = st.columns(min(3, len(op.defaults)))
    values = {}
    for i, (name, default) in enumerate(op.defaults.items()):
        with columns[i % len(columns)]:
            values[name] = _param_widget(op, name, default, key)
    return values


@refusal_shown
def _start(
    runner: JobRunner, flash: Flash, op: base.Operation, params: dict, flt: ExampleFilter, rescore: bool, key: str
) -> None:
    job = run.scoring_job(op, params, flt, rescore=rescore)
    job_id = runner.submit(run.JOB_KIND, job, run.job_params(op.name, params, flt, rescore))
    st.session_state[f"{key}_job"] = job_id
    flash("info", f"Started {op.title} scoring job #{job_id}.")


@refusal_shown
def _apply(store: Store, flash: Flash, op: base.Operation, params: dict, flt: ExampleFilter, author: str) -> None:
    found, result = run.apply_decisions(store, op, params, flt, author=author)
    if result.action_id is None:
        flash("info", "Nothing to change: every row already is as the decisions say.")
        return
    what = "; ".join(f"{k}: {v:,}" for k, v in found.counts().items())
    flash("success", f"Action #{result.action_id}: {result.rows:,} rows changed ({what}). Undo it below.")


def _summary(job: dict) -> str:
    r = job["result"]
    return f"Job #{job['id']} scored {r['scored']:,} of {r['to_score']:,} rows ({r['name']}, run {r['run_id']})."


def _distribution(store: Store, op: base.Operation, variant: str, flt: ExampleFilter, params: Mapping) -> None:
    labels = signals_store.label_counts(store, op.name, variant, flt)
    if labels.empty:
        st.caption("No row of the filter has this signal yet: run the operation first.")
        return
    if op.score_range is not None:
        low, high = op.score_range
        hist = signals_store.histogram(store, op.name, variant, flt, low=low, high=high, bins=20)
        chart = (
            alt.Chart(hist)
            .mark_bar()
            .encode(
                x=alt.X("bin_start:Q", bin="binned", title="score"), x2="bin_end:Q", y=alt.Y("count:Q", title="rows")
            )
        )
        threshold = next((params[k] for k in ("threshold", "min_score", "max_score") if k in params), None)
        if isinstance(threshold, int | float):
            rule = alt.Chart(pd.DataFrame({"t": [float(threshold)]})).mark_rule(color="red").encode(x="t:Q")
            chart = chart + rule
        st.altair_chart(chart, width="stretch")
    if (labels["label"] != "").any():
        st.bar_chart(labels.set_index("label")["count"], horizontal=True)


def _would_change(store: Store, found: run.Plan) -> None:
    counts = found.counts()
    if found.stale:
        st.warning(f"{found.stale:,} rows were edited since they were scored and are left out: run the operation.")
    if not counts:
        st.caption("Applying now would change nothing.")
        return
    st.dataframe(pd.DataFrame({"change": list(counts), "rows": list(counts.values())}), hide_index=True)
    for change in counts:
        picked = found.changes[found.changes["change"] == change].drop_duplicates("example_id").head(SAMPLES)
        text = examples.fetch(store, ExampleFilter(ids=picked["example_id"].tolist()), ("id", "instruction", "output"))
        sample = picked[["example_id", "reason"]].merge(text, left_on="example_id", right_on="id").drop(columns="id")
        with st.expander(f"Samples: {change} ({counts[change]:,} rows)"):
            st.dataframe(sample, hide_index=True)


def operation_panel(
    store: Store, runner: JobRunner, flt: ExampleFilter, *, flash: Flash, author: str, key: str = "ops"
) -> None:
    """The generic panel over the rows matching `flt`."""
    ops = base.all_operations()
    if not ops:
        st.info("No curation operation is registered.")
        return
    names = [op.name for op in ops]
    name = st.selectbox("Operation", names, key=f"{key}_op", format_func=lambda n: f"{base.get(n).title} ({n})")
    op = base.get(name)
    st.caption(op.description)
    try:
        params = op.params(param_widgets(op, key))
    except (TypeError, ValueError) as err:
        st.error(str(err))
        return
    variant = op.variant(params)
    rescore = st.checkbox("Score every matching row again (not only new or edited rows)", key=f"{key}_rescore")
    pending = signals_store.count_pending(store, op.name, variant, flt, rescore=rescore)
    st.caption(f"{pending:,} rows of the filter ({flt.describe()}) need scoring.")
    running = ui_jobs.any_active(store, [run.JOB_KIND])
    st.button(
        "Run",
        key=f"{key}_run",
        type="primary",
        disabled=running or pending == 0,
        on_click=_start,
        args=(runner, flash, op, params, flt, rescore, key),
    )
    job_id = ui_jobs.current_job_id(store, [run.JOB_KIND], f"{key}_job")
    if job_id is not None:
        ui_jobs.job_panel(store, runner, job_id, key=f"{key}_panel", summary=_summary)
    st.subheader("Scores")
    _distribution(store, op, variant, flt, params)
    st.subheader("What applying would change")
    _would_change(store, run.plan(store, op, params, flt))
    st.button(
        "Apply (one undoable action)", key=f"{key}_apply", on_click=_apply, args=(store, flash, op, params, flt, author)
    )
    st.subheader("Recent operation actions")
    recent_actions(store, key=f"{key}_actions", kinds=[run.ACTION_KIND, "undo", "redo"], limit=5)
