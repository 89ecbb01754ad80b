"""Overview (default page): counts by source/origin/status/tag, lengths, recent changes with undo, jobs."""

from __future__ import annotations

import altair as alt
import streamlit as st

st.set_page_config(page_title="instruct-curator", page_icon=":material/dataset:", layout="wide")

from curation.filters import LENGTH_FIELDS, STATUSES  # noqa: E402  (set_page_config must come first)
from curation.store import examples, jobs_table  # noqa: E402
from ui.actions import recent_actions  # noqa: E402
from ui.charts import ranked_bars  # noqa: E402
from ui.navigation import kept_tabs  # noqa: E402
from ui.state import get_store  # noqa: E402

GROUPS = {"Status": "status", "Origin": "origin", "Source": "source", "Tag": "tag", "Task": "task", "Format": "format"}
TOP = 25


def show_counts(store) -> None:
    for tab, (label, column) in zip(kept_tabs(list(GROUPS), "overview_tab"), GROUPS.items(), strict=True):
        counts = examples.counts_by(store, column)
        with tab:
            if counts.empty:
                st.caption(f"No {label.lower()} values yet.")
                continue
            chart, table = st.columns([3, 2])
            with chart:
                ranked_bars(counts, label, key=f"overview_{column}", top=TOP)
            table.dataframe(counts.rename(columns={"value": label}), hide_index=True, width="stretch")


def show_lengths(store) -> None:
    field = st.selectbox("Length of", LENGTH_FIELDS, index=LENGTH_FIELDS.index("total"), key="overview_length_field")
    hist = examples.length_histogram(store, field, bins=30)
    if hist.empty:
        st.caption("No rows.")
        return
    chart = (
        alt.Chart(hist)
        .mark_bar()
        .encode(
            x=alt.X("bin_start:Q", title=f"{field} length (characters; the last bar holds everything longer)"),
            x2="bin_end:Q",
            y=alt.Y("count:Q", title="examples"),
            y2=alt.datum(0),
            tooltip=["bin_start:Q", "bin_end:Q", "count:Q"],
        )
    )
    st.altair_chart(chart, width="stretch")


def show_jobs(store) -> None:
    jobs = jobs_table.list_jobs(store, limit=10)
    if jobs.empty:
        st.caption("No background jobs yet.")
        return
    st.dataframe(
        jobs[["id", "kind", "status", "progress", "message", "error", "created_at", "finished_at"]],
        hide_index=True,
        width="stretch",
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)},
    )


store = get_store()
st.title("instruct-curator")
st.caption("Build, curate and export instruction-tuning datasets. Pick a page in the sidebar.")
status_counts = dict(examples.counts_by(store, "status").itertuples(index=False))
total = sum(status_counts.values())
metrics = st.columns(6)
metrics[0].metric("Examples", f"{total:,}")
for column, status in zip(metrics[1:5], STATUSES, strict=True):
    column.metric(status.capitalize(), f"{status_counts.get(status, 0):,}")
metrics[5].metric("Sources", len(examples.list_sources(store)))
if total == 0:
    st.info("The store is empty: import a file on the Import page.")
    st.page_link("pages/3_Import.py", label="Go to Import", icon=":material/upload:")
else:
    st.subheader("Counts")
    show_counts(store)
    st.subheader("Lengths")
    show_lengths(store)
st.subheader("Recent changes")
recent_actions(store, key="overview_actions", reports=True)
st.subheader("Recent jobs")
show_jobs(store)
