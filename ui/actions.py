"""Recent actions (edits, reviews, tags, dedup ...) with Undo / Redo each; shared by Overview, Review and CoT.

An undo or redo that would overwrite rows changed since is refused by the store; the list then shows which rows
and offers the user's three choices: undo the later action first, undo only the unchanged rows, or force.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from curation.store import Store, revisions
from curation.store.changes import plural
from ui.drop_report import what_did_it_change
from ui.state import author
from ui.text import inert

BOOKKEEPING = ("undo", "redo")


def _run(store: Store, op: str, action_id: int, key: str, *, force: bool = False, skip: bool = False) -> None:
    """Undo or redo `action_id`; a conflict is kept in session state for the choice box."""
    st.session_state.pop(f"{key}_conflict", None)
    verb = revisions.undo_action if op == "undo" else revisions.redo_action
    try:
        result = verb(store, action_id, author=author(), force=force, skip_changed=skip)
    except revisions.UndoConflictError as err:
        later = err.later[0].id if err.later else None
        st.session_state[f"{key}_conflict"] = {"op": op, "id": action_id, "message": str(err), "later": later}
        return
    except (KeyError, ValueError) as err:
        st.session_state[f"{key}_flash"] = ("error", inert(err))
        return
    done = "Undid" if op == "undo" else "Redid"
    message = f"{done} action #{action_id}: {plural(result.rows)} {'restored' if op == 'undo' else 'changed'}."
    if result.skipped:
        message += f" Kept {plural(len(result.skipped))} changed since as they are."
    st.session_state[f"{key}_flash"] = ("success", message)


def _conflict_box(store: Store, key: str) -> None:
    conflict = st.session_state.get(f"{key}_conflict")
    if not conflict:
        return
    op, action_id, later = conflict["op"], conflict["id"], conflict["later"]
    with st.container(border=True):
        st.warning(inert(conflict["message"]))
        first, rest, force, cancel = st.columns(4)
        if later is not None:
            first.button(f"Undo #{later} first", key=f"{key}_later", on_click=_run, args=(store, "undo", later, key))
        rest.button(
            f"{op.capitalize()} only the unchanged rows",
            key=f"{key}_skip",
            on_click=_run,
            args=(store, op, action_id, key),
            kwargs={"skip": True},
        )
        force.button(
            "Force (overwrite the later changes)",
            key=f"{key}_force",
            on_click=_run,
            args=(store, op, action_id, key),
            kwargs={"force": True},
        )
        cancel.button("Cancel", key=f"{key}_cancel", on_click=lambda: st.session_state.pop(f"{key}_conflict", None))


def recent_actions(
    store: Store, *, key: str, kinds: list[str] | None = None, limit: int = 10, reports: bool = False
) -> None:
    """List the newest actions in words, each with Undo (in effect) or Redo (undone) and, with `reports`, a
    'What did it change?' drop report; keys start with `key`."""
    flash_key = f"{key}_flash"
    if flash_key in st.session_state:
        level, message = st.session_state.pop(flash_key)
        getattr(st, level)(message)
    _conflict_box(store, key)
    actions = revisions.list_actions(store, kinds, limit)
    if actions.empty:
        st.caption("No changes recorded yet.")
        return
    for row in actions.itertuples(index=False):
        what, rows, who, button = st.columns([6, 1, 2, 1.3], vertical_alignment="center")
        what.text(f"#{row.id} {row.kind}: {row.description}")
        rows.text(plural(int(row.row_count)))
        who.text(f"{row.author} · {row.created_at:%Y-%m-%d %H:%M}")
        if row.kind in BOOKKEEPING:
            button.text(f"of #{int(row.undoes)}" if pd.notna(row.undoes) else "")
        elif row.undone:
            button.button("Redo", key=f"{key}_redo_{row.id}", on_click=_run, args=(store, "redo", int(row.id), key))
        else:
            button.button("Undo", key=f"{key}_undo_{row.id}", on_click=_run, args=(store, "undo", int(row.id), key))
        if reports and row.row_count:
            what_did_it_change(store, int(row.id), key=f"{key}_what_{row.id}", label="What did it change?")
