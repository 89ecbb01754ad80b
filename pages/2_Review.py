"""Review: bulk approve/reject everything matching the filter (after a confirmation), a one-by-one queue, undo."""

from __future__ import annotations

from functools import partial

import streamlit as st

from curation.filters import ExampleFilter
from curation.store import examples, revisions
from ui import feedback, record
from ui.actions import recent_actions
from ui.filters import filter_sidebar
from ui.navigation import kept_tabs
from ui.state import author, get_store
from ui.text import inert

CONFIRM = "review_confirm"
FLASH = "review_flash"
DECISIONS = "review_decisions"  # action ids of this session's queue decisions, newest last
SKIPPED = "review_skipped"
POSITION = "review_position"  # where J / K moved to in the queue
BULK_CHOICES = {"approved": "Approve", "rejected": "Reject", "pending": "Reset to pending"}

st.set_page_config(page_title="Review · instruct-curator", page_icon=":material/dataset:", layout="wide")
store = get_store()


flash = partial(feedback.flash, FLASH)


# -- bulk ----------------------------------------------------------------------------------------
def ask_bulk(status: str, flt: ExampleFilter, count: int) -> None:
    st.session_state[CONFIRM] = {"status": status, "filter": flt.to_dict(), "count": count}


def confirm_bulk() -> None:
    request = st.session_state.pop(CONFIRM)
    flt = ExampleFilter.from_dict(request["filter"])
    now = examples.count(store, flt)
    if now != request["count"]:
        st.session_state[CONFIRM] = request | {"count": now}
        flash("warning", f"The number of matching rows changed from {request['count']:,} to {now:,}; confirm again.")
        return
    try:
        result = revisions.set_status(store, request["status"], author=author(), flt=flt, kind="bulk-review")
    except ValueError as err:  # e.g. the signed-in role may not review
        flash("error", inert(err))
        return
    flash(
        "success",
        f"{BULK_CHOICES[request['status']]}: {result.rows:,} rows changed (action #{result.action_id}); "
        "undo it below if that was a mistake.",
    )


def show_bulk(flt: ExampleFilter, count: int) -> None:
    st.subheader("Bulk review")
    st.markdown(f"**{count:,} rows** match the current filter.")
    st.text(f"Filter: {flt.describe()}")
    columns = st.columns(len(BULK_CHOICES))
    for column, (status, label) in zip(columns, BULK_CHOICES.items(), strict=True):
        column.button(
            f"{label} all {count:,}",
            key=f"review_bulk_{status}",
            on_click=ask_bulk,
            args=(status, flt, count),
            disabled=count == 0,
            width="stretch",
        )
    request = st.session_state.get(CONFIRM)
    if request:
        with st.container(border=True):
            st.warning(f"Set {request['count']:,} rows to '{request['status']}'? This is one undoable action.")
            st.text(f"Filter: {ExampleFilter.from_dict(request['filter']).describe()}")
            yes, no, _ = st.columns([1, 1, 3])
            yes.button(
                f"Yes, change {request['count']:,} rows",
                key="review_confirm_yes",
                type="primary",
                on_click=confirm_bulk,
            )
            no.button("Cancel", key="review_confirm_no", on_click=lambda: st.session_state.pop(CONFIRM, None))


# -- queue ---------------------------------------------------------------------------------------
def queue_filter(flt: ExampleFilter) -> ExampleFilter:
    return ExampleFilter.from_dict(flt.to_dict() | {"statuses": ["pending"]})


def queue_ids(flt: ExampleFilter, position: int) -> list[int]:
    """Pending rows in id order that this session has not skipped, up to one past `position`."""
    skipped = set(st.session_state.get(SKIPPED, []))
    frame = examples.page(store, queue_filter(flt), limit=len(skipped) + position + 2)
    return [int(i) for i in frame["id"] if int(i) not in skipped]


def step(delta: int) -> None:
    """J / K: the next or previous row of the queue, deciding nothing."""
    st.session_state[POSITION] = max(0, st.session_state.get(POSITION, 0) + delta)


def decide(example_id: int, status: str) -> None:
    try:
        result = revisions.set_status(store, status, author=author(), ids=[example_id], kind="review")
    except ValueError as err:  # e.g. the signed-in role may not review
        flash("error", inert(err))
        return
    if result.action_id:
        st.session_state.setdefault(DECISIONS, []).append(result.action_id)
    flash("success", f"Example #{example_id} {status}.")


def skip(example_id: int) -> None:
    st.session_state.setdefault(SKIPPED, []).append(example_id)


def undo_last() -> None:
    decisions = st.session_state.get(DECISIONS, [])
    if not decisions:
        return
    action_id = decisions.pop()
    try:
        revisions.undo_action(store, action_id, author=author())
    except (KeyError, ValueError) as err:
        flash("error", inert(err))
        return
    flash("info", f"Undid your last decision (action #{action_id}); that row is back in the queue.")


def show_queue(flt: ExampleFilter) -> None:
    st.subheader("Review queue")
    left = examples.count(store, queue_filter(flt))
    skipped = len(st.session_state.get(SKIPPED, []))
    st.markdown(f"**{left:,} pending** rows in this filter · {skipped} skipped this session")
    position = st.session_state.get(POSITION, 0)
    ids = queue_ids(flt, position)
    position = st.session_state[POSITION] = min(position, max(0, len(ids) - 1))
    row = examples.get(store, ids[position]) if ids else None
    nothing_to_undo = set() if st.session_state.get(DECISIONS) else {"undo"}
    if row is None:
        record.decision_bar("review_q", record.Controls(undo=undo_last, disabled=nothing_to_undo))
        st.info("Nothing left to review here. Change the filter, or clear the skipped list.")
    else:
        example_id = int(row["id"])
        controls = record.Controls(
            approve=partial(decide, example_id, "approved"),
            reject=partial(decide, example_id, "rejected"),
            skip=partial(skip, example_id),
            undo=undo_last,
            edit=partial(record.toggle_edit, "review_q", example_id),
            previous=partial(step, -1),
            next=partial(step, 1),
            disabled=nothing_to_undo
            | ({"previous"} if position == 0 else set())
            | ({"next"} if position >= len(ids) - 1 else set()),
        )
        with st.container(border=True):
            record.record_view(store, row, key="review_q", controls=controls)
    if skipped:
        st.button("Clear skipped list", key="review_q_clear_skipped", on_click=lambda: st.session_state.pop(SKIPPED))


st.title("Review")
feedback.show_flash(FLASH)
current = filter_sidebar(store)
queue_tab, bulk_tab = kept_tabs(["Review queue", "Bulk review"], "review_tab")
with queue_tab:
    show_queue(current)
with bulk_tab:
    show_bulk(current, examples.count(store, current))
st.subheader("Recent changes")
recent_actions(store, key="review_actions", limit=15)
