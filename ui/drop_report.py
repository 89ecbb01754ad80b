"""The drop-report panel ("what did it change?") shared by Dedup, CoT, Generate → Rate and the Overview's recent
changes: counts per decision, bars per source / task / origin / format, the score histogram, sample rows with their
reason, and the mixture shares before and after the action side by side."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from curation.operations import report as drop
from curation.store import Store, drops
from curation.store.changes import plural
from ui.text import inert

DIMENSION_LABELS = {"source": "Source", "task": "Task", "origin": "Origin", "format": "Format"}


def drop_report_panel(store: Store, action_id: int, *, key: str) -> None:
    """The full drop report of one action; widget keys start with `key`."""
    try:
        rep = drop.drop_report(store, action_id)
    except (KeyError, ValueError) as err:
        st.error(inert(err))
        return
    action = rep.action
    state = " (undone)" if action["undone"] else ""
    st.markdown(f"**Action #{action['id']} · {action['kind']}{state}** · {action['author']} · {action['created_at']}")
    st.caption(inert(action["description"]))
    cols = st.columns(max(len(rep.decisions), 1) + 1)
    cols[0].metric("Rows changed", f"{rep.rows:,}")
    for col, (decision, rows) in zip(cols[1:], rep.decisions.items(), strict=False):
        col.metric(decision, f"{rows:,}")
    if not rep.decisions:
        st.info("This action changed no rows.")
        return
    breakdown, scores, samples, shares = st.tabs(["Breakdown", "Scores", "Samples", "Mixture shares"])
    with breakdown:
        _breakdown(rep, key)
    with scores:
        _scores(rep)
    with samples:
        _samples(rep)
    with shares:
        _shares(rep, key)


def _breakdown(rep: drop.DropReport, key: str) -> None:
    dim = st.radio(
        "Rows by", drop.DIMENSIONS, horizontal=True, key=f"{key}_dim", format_func=DIMENSION_LABELS.__getitem__
    )
    part = rep.breakdown[rep.breakdown["dimension"] == dim]
    chart = (
        alt.Chart(part)
        .mark_bar()
        .encode(
            x=alt.X("rows:Q", title="rows", stack="zero", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:N", sort="-x", title=DIMENSION_LABELS[dim], axis=alt.Axis(labelLimit=300)),
            color=alt.Color("decision:N", title="decision"),
            tooltip=["value", "decision", "rows"],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(part[["value", "decision", "rows"]], hide_index=True, key=f"{key}_table")


def _scores(rep: drop.DropReport) -> None:
    if rep.score_label is None:
        st.caption("This action was not decided on a score (a review, an edit, a manual tag).")
        return
    st.caption(f"Score: {rep.score_label}, for the {plural(len(rep.scores))} it changed.")
    chart = (
        alt.Chart(rep.histogram)
        .mark_bar()
        .encode(
            x=alt.X("bin_start:Q", bin="binned", title=rep.score_label),
            x2="bin_end:Q",
            y=alt.Y("rows:Q", title="rows", stack="zero", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("decision:N", title="decision"),
            tooltip=["decision", "bin_start", "bin_end", "rows"],
        )
        .properties(height=220)
    )
    st.altair_chart(chart, width="stretch")


def _samples(rep: drop.DropReport) -> None:
    for decision, rows in rep.samples.items():
        st.markdown(f"**{decision}**")
        frame = pd.DataFrame(rows, columns=["id", "instruction", "reason", "score"])
        st.dataframe(frame, hide_index=True)


def _shares(rep: drop.DropReport, key: str) -> None:
    st.caption(
        f"Share of rows by source or task among the rows that may enter a mixture ({' or '.join(rep.eligible)}), "
        "right before and right after this action."
    )
    dim = st.radio("Shares by", drop.SHARE_DIMENSIONS, horizontal=True, key=f"{key}_share_dim",
                   format_func=DIMENSION_LABELS.__getitem__)  # fmt: skip
    part = rep.shares[rep.shares["dimension"] == dim]
    long = pd.concat(
        [
            part.assign(when="before", rows=part["before"], share=part["before_share"]),
            part.assign(when="after", rows=part["after"], share=part["after_share"]),
        ]
    )[["value", "when", "rows", "share"]]
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("share:Q", title="share of eligible rows", axis=alt.Axis(format="%")),
            y=alt.Y("when:N", sort=["before", "after"], title=None),
            row=alt.Row("value:N", title=DIMENSION_LABELS[dim], header=alt.Header(labelAngle=0, labelAlign="left")),
            color=alt.Color("when:N", sort=["before", "after"], title=None),
            tooltip=["value", "when", "rows", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(height=40)
    )
    st.altair_chart(chart)
    shown = part.assign(
        before=[f"{n:,} ({s:.1%})" for n, s in zip(part["before"], part["before_share"], strict=True)],
        after=[f"{n:,} ({s:.1%})" for n, s in zip(part["after"], part["after_share"], strict=True)],
    )[["value", "before", "after"]]
    st.dataframe(shown, hide_index=True, key=f"{key}_shares_table")


def what_did_it_change(
    store: Store, action_id: int, *, key: str, label: str | None = None, expanded: bool = False
) -> None:
    """A 'What did it change?' expander (collapsed unless `expanded`) that computes the report only when open."""
    box = st.expander(
        label or f"What did action #{action_id} change?", expanded=expanded, key=f"{key}_open", on_change="rerun"
    )
    with box:
        if box.open:
            drop_report_panel(store, action_id, key=key)


def latest_report(
    store: Store,
    *,
    key: str,
    kinds: list[str] | None = None,
    field: str | None = None,
    label: str = "What did it change?",
) -> int | None:
    """The expander for the newest action of `kinds` (or that wrote `field`); nothing when there is none."""
    action_id = drops.latest_action(store, kinds=kinds, field=field)
    if action_id is not None:
        what_did_it_change(store, action_id, key=f"{key}_{action_id}", label=f"{label} (action #{action_id})")
    return action_id
