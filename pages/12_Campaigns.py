"""Campaigns: assign the filtered rows to annotators with overlap; progress, agreement, disagreements, resolve."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from curation.store import examples
from curation.store import team as team_store
from curation.team import accounts, campaigns
from ui import feedback
from ui.feedback import refusal_shown
from ui.filters import filter_sidebar
from ui.navigation import kept_tabs
from ui.state import author, get_store
from ui.text import inert, plain_cells

FLASH = "campaigns_flash"
FORM_KEYS = ("camp_name", "camp_annotators", "camp_annotators_text", "camp_overlap", "camp_guidelines")
store = get_store()


def annotator_choices() -> list[str]:
    if not accounts.auth_enabled():
        return []
    return [a.username for a in accounts.load_accounts().values() if a.role != "viewer"]


@refusal_shown
def create(flt) -> None:
    s = st.session_state
    names = s.get("camp_annotators") or [n.strip() for n in s.get("camp_annotators_text", "").split(",") if n.strip()]
    spec = campaigns.CampaignSpec(s.camp_name, flt, tuple(names), int(s.camp_overlap), s.camp_guidelines)
    try:
        cid = campaigns.create(store, spec, author=author())
    except ValueError as err:
        feedback.flash(FLASH, "error", "Campaign not created.", str(err))
        return
    feedback.flash(FLASH, "success", f"Campaign #{cid} created over {examples.count(store, flt):,} rows.")
    for key in FORM_KEYS:  # an empty form: a second click cannot create the same campaign again
        st.session_state.pop(key, None)


@refusal_shown
def resolve(cid: int, rule: str, calls: dict[int, str]) -> None:
    try:
        result = campaigns.resolve(store, cid, rule, author=author(), final_calls=calls)
    except ValueError as err:
        feedback.flash(FLASH, "error", "Nothing resolved.", str(err))
        return
    feedback.flash(FLASH, "success", f"Resolved {result.rows} rows as action #{result.action_id} (undo on Overview).")


def show_create(flt) -> None:
    count = examples.count(store, flt)
    with st.form("camp_form"):
        st.text_input("Name", key="camp_name")
        choices = annotator_choices()
        if choices:
            st.multiselect("Annotators", choices, key="camp_annotators")
        else:
            st.text_input("Annotators (comma-separated user names)", key="camp_annotators_text")
        st.number_input("Reviews per row (overlap k)", 1, 10, 2, key="camp_overlap")
        st.text_area("Guidelines", key="camp_guidelines")
        st.caption(f"{count:,} rows match the sidebar filter ({inert(flt.describe())}).")
        st.form_submit_button("Create campaign", type="primary", on_click=create, args=(flt,), disabled=count == 0)


def show_campaign(cid: int) -> None:
    progress = campaigns.progress(store, cid)
    st.subheader("Progress")
    chart = progress.melt("annotator", ["answered", "left"], var_name="state", value_name="rows")
    st.altair_chart(
        alt.Chart(chart)
        .mark_bar()
        .encode(
            y=alt.Y("annotator:N", sort="-x"), x="sum(rows):Q", color="state:N", tooltip=["annotator", "state", "rows"]
        ),
        width="stretch",
    )
    report = campaigns.agreement_report(store, cid)
    st.subheader("Agreement")
    fleiss = "n/a" if pd.isna(report["fleiss"]) else f"{report['fleiss']:.3f}"
    st.metric("Fleiss' kappa", fleiss, help=f"over {report['fleiss_rows']} rows with every response")
    left, right = st.columns(2)
    left.caption("Cohen's kappa per pair")
    left.dataframe(report["pairs"].round(3), hide_index=True)
    right.caption("Per annotator (mean kappa with the others)")
    right.dataframe(report["annotators"].round(3), hide_index=True)
    if not report["groups"].empty:
        st.caption("By source and task (Fleiss' kappa)")
        st.dataframe(report["groups"].round(3), hide_index=True)
    st.subheader(f"Disagreements ({len(report['disagreements'])})")
    responses = team_store.latest_responses(store, cid)
    split = responses[responses.example_id.isin(report["disagreements"])]
    calls: dict[int, str] = {}
    if not split.empty:
        wide = split.pivot(index="example_id", columns="annotator", values="decision").reset_index()
        wide["instruction"] = [examples.get(store, int(i))["instruction"][:200] for i in wide.example_id]
        wide["final call"] = None
        edited = st.data_editor(
            wide, hide_index=True, key=f"camp_calls_{cid}", disabled=[c for c in wide.columns if c != "final call"],
            column_config={"final call": st.column_config.SelectboxColumn(options=list(team_store.DECISIONS))},
        )  # fmt: skip
        calls = {
            int(i): c for i, c in zip(edited["example_id"], edited["final call"], strict=True) if isinstance(c, str)
        }
    rule = st.radio("Rule", campaigns.RULES, horizontal=True, key=f"camp_rule_{cid}")
    preview = campaigns.outcome(store, cid, rule)
    decided = int(preview.resolved.notna().sum())
    st.caption(f"{decided} rows decided by {rule}, {len(calls)} final calls; the rest stay as they are.")
    st.button("Resolve", type="primary", key=f"camp_resolve_{cid}", on_click=resolve, args=(cid, rule, calls))


st.title("Campaigns")
feedback.show_flash(FLASH)
current = filter_sidebar(store)
campaigns_tab, new_tab = kept_tabs(["Campaigns", "New campaign"], "campaigns_tab")
with new_tab:
    show_create(current)
with campaigns_tab:
    listed = team_store.list_campaigns(store)
    if listed.empty:
        st.info("No campaigns yet. Create one in the next tab.")
    else:
        st.dataframe(plain_cells(listed), hide_index=True)
        labels = {int(r.id): f"#{r.id} {r.name}" for r in listed.itertuples()}
        chosen = st.selectbox("Campaign", list(labels), format_func=labels.get, key="camp_chosen")
        show_campaign(int(chosen))
