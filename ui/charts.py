"""Bar charts that stay readable from 2 to hundreds of groups, with one group much larger than the rest.

Bars are horizontal and sorted (full labels on the axis and in tooltips), the largest `top` groups are drawn and the
rest are summed into one "other (N groups)" bar, and a log-scale toggle keeps small groups visible beside a huge one.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

LABEL_LIMIT = 360  # pixels of axis label before Vega shortens it; the tooltip always has the full text


def top_with_other(frame: pd.DataFrame, label: str, values: list[str], top: int) -> pd.DataFrame:
    """The `top` rows with the largest first value, plus one 'other (N groups)' row summing the rest."""
    ranked = frame.sort_values(values[0], ascending=False, kind="stable")
    if len(ranked) <= top:
        return ranked[[label, *values]].reset_index(drop=True)
    rest = ranked.iloc[top:]
    other = pd.DataFrame({label: [f"other ({len(rest):,} groups)"], **{v: [rest[v].sum()] for v in values}})
    return pd.concat([ranked.iloc[:top][[label, *values]], other], ignore_index=True)


def log_toggle(key: str) -> alt.Scale:
    """A 'Log scale' toggle; symlog keeps zero counts drawable."""
    return alt.Scale(type="symlog") if st.toggle("Log scale", key=key) else alt.Scale(type="linear")


def ranked_bars(counts: pd.DataFrame, label: str, *, key: str, top: int = 25) -> None:
    """`counts` (value, count) as sorted horizontal bars: top groups + other, log-scale toggle, full tooltips."""
    shown = top_with_other(counts, "value", ["count"], top)
    scale = log_toggle(f"{key}_log")
    chart = (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title="examples", scale=scale),
            y=alt.Y("value:N", sort=None, title=label, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
            tooltip=[alt.Tooltip("value:N", title=label), alt.Tooltip("count:Q", format=",")],
        )
    )
    # the height goes to Streamlit, not the spec: a spec height alone is drawn squashed to ~10 px (Streamlit 1.67)
    st.altair_chart(chart, width="stretch", height=max(120, 28 * len(shown) + 60))
    if len(counts) > top:
        st.caption(f"The {top} largest of {len(counts):,} values, the rest summed as 'other'; the table lists all.")


def before_after_bars(groups: pd.DataFrame, *, key: str, top: int = 25) -> None:
    """Rows per group before and after mixing, as paired horizontal bars sorted by the rows before."""
    shown = top_with_other(groups, "group", ["before", "after"], top)
    order = shown["group"].tolist()
    long = shown.melt(id_vars="group", value_vars=["before", "after"], var_name="when", value_name="rows")
    scale = log_toggle(f"{key}_log")
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("group:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
            yOffset=alt.YOffset("when:N", sort=["before", "after"]),
            x=alt.X("rows:Q", title="rows", scale=scale),
            color=alt.Color("when:N", sort=["before", "after"], title=None, legend=alt.Legend(orient="top")),
            tooltip=["group:N", "when:N", alt.Tooltip("rows:Q", format=",")],
        )
    )
    st.altair_chart(chart, width="stretch", height=max(140, 34 * len(shown) + 80))
    if len(groups) > top:
        st.caption(f"The {top} largest of {len(groups):,} groups, the rest summed as 'other'; the table lists all.")


def share_bars(shares: pd.DataFrame, *, top: int = 12) -> None:
    """Share of rows per group before and after, as two 100% stacked bars with every drawn group in the legend."""
    shown = top_with_other(shares, "group", ["before", "after"], top)
    long = shown.melt(id_vars="group", value_vars=["before", "after"], var_name="when", value_name="share")
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("when:N", sort=["before", "after"], title=None),
            x=alt.X("share:Q", stack="normalize", axis=alt.Axis(format="%"), title="share of rows"),
            color=alt.Color(
                "group:N",
                sort=shown["group"].tolist(),
                legend=alt.Legend(symbolLimit=0, labelLimit=LABEL_LIMIT, orient="bottom", columns=3),
            ),
            tooltip=["group:N", "when:N", alt.Tooltip("share:Q", format=".1%")],
        )
    )
    st.altair_chart(chart, width="stretch")
