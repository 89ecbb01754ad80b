"""Annotate: an annotator's own queue in a review campaign, in the record view (Approve A, Reject D, Skip S,
K / J previous / next); decisions stay theirs."""

from __future__ import annotations

from functools import partial

import streamlit as st

from curation.store import examples
from curation.store import team as team_store
from curation.team import campaigns
from ui import feedback, record
from ui.feedback import refusal_shown
from ui.state import author, get_store
from ui.text import inert

FLASH, SKIPPED, POSITION = "annotate_flash", "annotate_skipped", "annotate_position"
store = get_store()
me = author()


@refusal_shown
def decide(campaign_id: int, example_id: int, decision: str) -> None:
    reason = st.session_state.get("annotate_reason", "")
    try:
        campaigns.respond(store, campaign_id, example_id, decision, annotator=me, reason=reason)
    except ValueError as err:
        feedback.flash(FLASH, "error", "Not recorded.", str(err))
        return
    st.session_state["annotate_reason"] = ""
    feedback.flash(FLASH, "success", f"Recorded {decision} on #{example_id}.")


def skip(example_id: int) -> None:
    st.session_state.setdefault(SKIPPED, []).append(example_id)


def step(delta: int) -> None:
    """J / K: the next or previous row of your queue, answering nothing."""
    st.session_state[POSITION] = max(0, st.session_state.get(POSITION, 0) + delta)


st.title("Annotate")
feedback.show_flash(FLASH)
mine = team_store.campaigns_of(store, me)
if mine.empty:
    st.info(inert(f"No open campaign assigns rows to {me}. A curator creates campaigns on the Campaigns page."))
    st.stop()
labels = {int(r.id): f"#{r.id} {r.name}" for r in mine.itertuples()}
campaign_id = st.selectbox("Campaign", list(labels), format_func=labels.get, key="annotate_campaign")
guidelines = mine.set_index("id").loc[campaign_id, "guidelines"]
if guidelines:
    with st.expander("Guidelines", expanded=True):
        st.text(guidelines)
todo = [i for i in team_store.queue(store, campaign_id, me) if i not in st.session_state.get(SKIPPED, [])]
assigned = int((team_store.assignments(store, campaign_id).annotator == me).sum())
done = assigned - len(team_store.queue(store, campaign_id, me))
st.progress(done / assigned if assigned else 1.0, text=f"{done} of {assigned} answered")
if not todo:
    st.success("Nothing left in your queue for this campaign.")
    if st.session_state.get(SKIPPED):
        st.button("Show skipped rows again", on_click=lambda: st.session_state.pop(SKIPPED))
    st.stop()
position = min(st.session_state.get(POSITION, 0), len(todo) - 1)
row = examples.get(store, todo[position])
example_id = int(row["id"])
controls = record.Controls(
    approve=partial(decide, campaign_id, example_id, "approved"),
    reject=partial(decide, campaign_id, example_id, "rejected"),
    skip=partial(skip, example_id),
    previous=partial(step, -1),
    next=partial(step, 1),
    disabled=({"previous"} if position == 0 else set()) | ({"next"} if position >= len(todo) - 1 else set()),
)
st.text_input("Reason (optional, saved with your answer)", key="annotate_reason")
with st.container(border=True):
    record.record_view(store, row, key="annotate", controls=controls)
