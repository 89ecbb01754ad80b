"""Recent actions (edits, reviews, tags, dedup ...) with an Undo button each; shared by Overview and Review."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from curation.store import Store, revisions
from ui.state import author
from ui.text import inert


def _undo(store: Store, action_id: int, flash_key: str) -> None:
    try:
        result = revisions.undo_action(store, action_id, author=author())
    except (KeyError, ValueError) as err:
        st.session_state[flash_key] = ("error", inert(err))
        return
    st.session_state[flash_key] = ("success", f"Undid action #{action_id}: {result.rows} rows restored.")


def recent_actions(store: Store, *, key: str, kinds: list[str] | None = None, limit: int = 10) -> None:
    """List the newest actions; each not-yet-undone one gets an Undo button (keys start with `key`)."""
    flash_key = f"{key}_flash"
    if flash_key in st.session_state:
        level, message = st.session_state.pop(flash_key)
        getattr(st, level)(message)
    actions = revisions.list_actions(store, kinds, limit)
    if actions.empty:
        st.caption("No changes recorded yet.")
        return
    for row in actions.itertuples(index=False):
        what, rows, who, undo = st.columns([6, 1, 2, 1.3], vertical_alignment="center")
        what.text(f"#{row.id} {row.kind}" + (f": {row.description}" if row.description else ""))
        rows.text(f"{row.row_count} rows")
        who.text(f"{row.author} · {row.created_at:%Y-%m-%d %H:%M}")
        if pd.notna(row.undone_by):
            undo.text(f"undone by #{int(row.undone_by)}")
        else:
            undo.button("Undo", key=f"{key}_undo_{row.id}", on_click=_undo, args=(store, int(row.id), flash_key))
