"""Annotate: an annotator's own queue in a review campaign (Approve A, Reject D, Skip S); decisions stay theirs."""

from __future__ import annotations

import streamlit as st

from curation.store import examples
from curation.store import team as team_store
from curation.team import campaigns
from ui import feedback
from ui.feedback import refusal_shown
from ui.state import author, get_store
from ui.text import inert

FLASH, SKIPPED = "annotate_flash", "annotate_skipped"
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
row = examples.get(store, todo[0])
with st.container(border=True):
    st.text(f"#{row['id']} · task: {row['task'] or '-'}")
    for field in ("instruction", "input", "output"):
        if row[field] or field != "input":
            st.caption(field)
            st.code(row[field] or " ", language=None, wrap_lines=True)
st.text_input("Reason (optional)", key="annotate_reason")
approve, reject, later = st.columns(3)
approve.button("Approve", key="annotate_approve", type="primary", shortcut="A", width="stretch",
               on_click=decide, args=(campaign_id, int(row["id"]), "approved"))  # fmt: skip
reject.button("Reject", key="annotate_reject", shortcut="D", width="stretch",
              on_click=decide, args=(campaign_id, int(row["id"]), "rejected"))  # fmt: skip
later.button("Skip", key="annotate_skip", shortcut="S", width="stretch", on_click=skip, args=(int(row["id"]),))
