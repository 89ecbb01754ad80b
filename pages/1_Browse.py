"""Browse and edit: a server-side paged table, a row editor with conflict handling, history with diff and revert."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st

from curation import identity
from curation.diffs import inline_diff, text_diff
from curation.filters import SORTABLE
from curation.identity import PermissionDenied
from curation.store import ConflictError, examples, revisions
from ui import auth, feedback, record
from ui.conversation import conversation_editor, revision_diff, show_conversation
from ui.filters import filter_sidebar
from ui.state import author, get_store
from ui.text import inert, plain_cells

PAGE_SIZES = (25, 50, 100, 200)
TEXT_FIELDS = ("instruction", "input", "output")
EDIT_FIELDS = (*TEXT_FIELDS, "task", "tags")
# The columns that matter first; the rest scroll into view.
# The columns that matter first (status and tags visible at 1366 px); the rest scroll into view.
SHOWN = ["id", "status", "tags", "instruction", "output", "input", "source", "task", "origin", "length", "version"]
BESIDE_EDITOR = ["id", "status", "instruction", "output"]  # what fits beside the open editor on a 1366 px screen
PREVIEW_CHARS = 200
ONE_LINE, THREE_LINES = 35, 72  # Streamlit wraps cell text only in rows taller than 4rem (64 px)
WRAP = "browse_wrap"
FLASH = "browse_flash"
CONFLICT = "browse_conflict"
OPEN = "browse_open_id"
REVERT = "browse_revert_confirm"
SHOW_OPEN_PAGE = "browse_show_open_page"
ROW_PARAM = "row"  # ?row=ID: the open example, so a reload or a shared link opens it again

st.set_page_config(page_title="Browse · instruct-curator", page_icon=":material/dataset:", layout="wide")
store = get_store()


# -- state helpers -----------------------------------------------------------------------------
flash = partial(feedback.flash, FLASH)
show_flash = partial(feedback.show_flash, FLASH)


def editable(row: dict[str, Any]) -> dict[str, Any]:
    """The fields the editor shows, as plain values (task '' for none)."""
    return {f: row[f] or "" for f in (*TEXT_FIELDS, "task")} | {"tags": list(row["tags"])}


def widget_key(example_id: int, field: str) -> str:
    return f"browse_edit_{example_id}_{field}"


def loaded_key(example_id: int) -> str:
    return f"browse_loaded_{example_id}"


def load_into_editor(example_id: int, values: dict[str, Any], version: int) -> None:
    """Put values into the editor widgets and remember which version they came from (before widgets draw)."""
    st.session_state[loaded_key(example_id)] = {"version": int(version), "values": values}
    for field in EDIT_FIELDS:
        st.session_state[widget_key(example_id, field)] = values[field]


def forget_other_rows(example_id: int) -> None:
    """Drop the editor state of rows no longer open: a long session must not keep an entry per row it opened."""
    kept = (loaded_key(example_id), f"browse_revision_{example_id}")
    for key in [str(k) for k in st.session_state]:
        is_editor_state = key.startswith(("browse_loaded_", "browse_revision_", "browse_edit_"))
        if is_editor_state and key not in kept and not key.startswith(f"browse_edit_{example_id}_"):
            del st.session_state[key]


def open_example(example_id: int) -> None:
    """Open a row in the editor, freshly loaded from the store."""
    forget_other_rows(example_id)
    row = examples.get(store, example_id)
    st.session_state.pop(CONFLICT, None)
    if row is None:
        flash("warning", f"Example #{example_id} does not exist.")
        st.session_state.update({OPEN: None})
        return
    st.session_state[OPEN] = example_id
    if example_id not in st.session_state.get("browse_page_ids", []):
        st.session_state[SHOW_OPEN_PAGE] = True  # the table turns to the row's page (a link, or an id typed in)
    load_into_editor(example_id, editable(row), row["version"])


def on_table_select() -> None:
    rows = st.session_state["browse_table"]["selection"]["rows"]
    ids = st.session_state.get("browse_page_ids", [])
    if rows and rows[0] < len(ids):
        open_example(ids[rows[0]])


def _int_param(name: str) -> int | None:
    value = st.query_params.get(name)
    return int(value) if value and value.isdigit() else None


def may_review() -> bool:
    """Whether this user may edit and review rows (login off: yes); others see no Approve, Reject or Save."""
    return auth.may(identity.current(), "curator")


def step_row(delta: int) -> None:
    """Open the previous/next row of the table page (K / J)."""
    ids = st.session_state.get("browse_page_ids", [])
    current = st.session_state.get(OPEN)
    if current in ids and 0 <= ids.index(current) + delta < len(ids):
        open_example(ids[ids.index(current) + delta])


def step_page(delta: int, pages: int) -> None:
    st.session_state["browse_page"] = min(pages, max(1, st.session_state.get("browse_page", 1) + delta))


# -- table ---------------------------------------------------------------------------------------
def page_controls(flt, total: int, signature: str) -> tuple[str, bool, int, int]:
    sort_col, desc_col, size_col, page_col, prev_col, next_col = st.columns([2, 1.3, 1.3, 1.3, 1, 1])
    sort = sort_col.selectbox("Sort by", SORTABLE, key="browse_sort", bind="query-params")
    descending = desc_col.toggle("Descending", key="browse_desc", bind="query-params")
    size = size_col.selectbox("Rows per page", PAGE_SIZES, index=1, key="browse_size", bind="query-params")
    pages = max(1, math.ceil(total / size))
    signature += f"|{sort}|{descending}|{size}"
    if "browse_page" not in st.session_state:  # a fresh session (reload, shared link): the URL's page, if any
        st.session_state["browse_page"] = _int_param("browse_page") or 1
    elif st.session_state.get("browse_signature") not in (None, signature):  # a new filter or order: page 1
        st.session_state["browse_page"] = 1
    st.session_state["browse_signature"] = signature
    if st.session_state.pop(SHOW_OPEN_PAGE, False) and st.session_state.get(OPEN):
        place = examples.position(store, st.session_state[OPEN], flt, sort=sort, descending=descending)
        if place is not None:
            st.session_state["browse_page"] = place // size + 1
    st.session_state["browse_page"] = min(max(1, st.session_state["browse_page"]), pages)
    page_no = page_col.number_input(
        "Page", min_value=1, max_value=pages, step=1, key="browse_page", bind="query-params"
    )
    prev_col.button("◀ Prev", key="browse_prev", on_click=step_page, args=(-1, pages), disabled=page_no <= 1)
    next_col.button("Next ▶", key="browse_next", on_click=step_page, args=(1, pages), disabled=page_no >= pages)
    return sort, descending, size, int(page_no)


def show_table(flt, editor: Callable[[], None] | None = None) -> None:
    """Page controls and count across the page; then the table, with `editor` beside it when a row is open."""
    total = examples.count(store, flt)
    sort, descending, size, page_no = page_controls(flt, total, repr(sorted(flt.to_dict().items())))
    pages = max(1, math.ceil(total / size))
    st.markdown(f"**{total:,} matching rows** · page {page_no:,} of {pages:,}")
    frame = examples.page(store, flt, sort=sort, descending=descending, limit=size, offset=(page_no - 1) * size)
    st.session_state["browse_page_ids"] = frame["id"].tolist()
    shown = frame[SHOWN].copy()
    wrap = st.session_state.get(WRAP, False)
    for field in TEXT_FIELDS:
        preview = shown[field].fillna("").str.slice(0, PREVIEW_CHARS)
        shown[field] = preview if wrap else preview.str.replace(r"\s*\n\s*", " ⏎ ", regex=True)
    shown["task"] = shown["task"].fillna("")
    tick_open_row(frame["id"].tolist())
    if editor is None:
        table_rows(shown)
        return
    table_col, editor_col = st.columns([5, 4], gap="medium")  # the row and its editor both in view
    with table_col:
        table_rows(shown[BESIDE_EDITOR], text_width="medium")
    with editor_col:
        editor()


def tick_open_row(ids: list[int]) -> None:
    """Tick the open row in the table (opened from the URL, Previous/Next or its id), and nothing else."""
    position = ids.index(st.session_state[OPEN]) if st.session_state.get(OPEN) in ids else None
    wanted = [] if position is None else [position]
    ticked = ((st.session_state.get("browse_table") or {}).get("selection") or {}).get("rows") or []
    if list(ticked) != wanted:
        st.session_state["browse_table"] = {"selection": {"rows": wanted, "columns": [], "cells": []}}


def row_height(shown) -> int:
    """One line per row unless wrapping is on and some text needs more (then up to three lines)."""
    if not st.session_state.get(WRAP, False):
        return ONE_LINE
    texts = [shown[f] for f in TEXT_FIELDS if f in shown]
    longest = max((t.str.len().max() for t in texts if len(t)), default=0)
    broken = any(t.str.contains("\n").any() for t in texts)
    return THREE_LINES if broken or longest > 60 else ONE_LINE


def table_rows(shown, text_width: str = "medium") -> None:
    height = row_height(shown)
    st.dataframe(
        shown,
        key="browse_table",
        on_select=on_table_select,
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=min(620, 40 + height * max(1, len(shown))),
        row_height=height,
        column_config={
            "id": st.column_config.NumberColumn("id", width=56),
            "status": st.column_config.TextColumn("status", width=80),
            "tags": st.column_config.ListColumn("tags", width="small"),
            "instruction": st.column_config.TextColumn("instruction", width=text_width),
            "output": st.column_config.TextColumn("output", width=text_width),
            "input": st.column_config.TextColumn("input", width="medium"),
        },
    )
    goto, button, wrap = st.columns([1.5, 1, 5], vertical_alignment="bottom")
    goto.number_input("Open example id", min_value=1, step=1, value=None, key="browse_goto")
    button.button("Open", key="browse_open", on_click=lambda: open_example(int(st.session_state["browse_goto"] or 0)))
    wrap.toggle("Up to three lines per row", key=WRAP, bind="query-params", help="Off: one dense line per row.")
    st.caption("Select a row in the table, or type its id, to open it in the editor.")


# -- editor --------------------------------------------------------------------------------------
def editor_values(example_id: int) -> dict[str, Any]:
    return {field: st.session_state.get(widget_key(example_id, field)) for field in EDIT_FIELDS}


def changes_for_store(values: dict[str, Any], loaded_tags: list[str]) -> dict[str, Any]:
    """Fields to save; tags as what the user added and removed, so a tag changed meanwhile (a CoT run) is kept."""
    tags = {t.strip() for t in values["tags"] if t.strip()}
    changes = {f: values[f] for f in TEXT_FIELDS} | {"task": values["task"].strip() or None}
    return changes | {"tags_added": sorted(tags - set(loaded_tags)), "tags_removed": sorted(set(loaded_tags) - tags)}


def save(example_id: int, values: dict[str, Any], version: int) -> None:
    """Save with an optimistic version check; a conflict keeps both versions for the user to choose."""
    try:
        loaded_tags = st.session_state[loaded_key(example_id)]["values"]["tags"]
        new_version = revisions.update_example(
            store, example_id, changes_for_store(values, loaded_tags), expected_version=version, author=author()
        )
    except ConflictError as err:
        st.session_state[CONFLICT] = {
            "id": example_id,
            "mine": values,
            "theirs": editable(err.current),
            "their_version": int(err.current["version"]),
            "my_version": version,
        }
        return
    except PermissionDenied as err:
        flash("error", inert(err))
        return
    st.session_state.pop(CONFLICT, None)
    row = examples.get(store, example_id)
    load_into_editor(example_id, editable(row), row["version"])
    flash("success", f"Saved example #{example_id} (now version {new_version}).")


def save_from_form(example_id: int) -> None:
    save(example_id, editor_values(example_id), st.session_state[loaded_key(example_id)]["version"])


def keep_mine() -> None:
    conflict = st.session_state[CONFLICT]
    save(conflict["id"], conflict["mine"], conflict["their_version"])


def take_theirs() -> None:
    conflict = st.session_state.pop(CONFLICT)
    load_into_editor(conflict["id"], conflict["theirs"], conflict["their_version"])
    flash("info", f"Loaded the current version {conflict['their_version']}; your edits were discarded.")


def set_row_status(example_id: int, status: str) -> None:
    """Approve/reject one row; the editor keeps its edits if the review was the only change since loading."""
    before = examples.get(store, example_id)["version"]
    try:
        result = revisions.set_status(store, status, author=author(), ids=[example_id])
    except PermissionDenied as err:
        flash("error", inert(err))
        return
    loaded = st.session_state[loaded_key(example_id)]
    if result.action_id and before == loaded["version"]:
        loaded["version"] = before + 1
    flash("success", f"Example #{example_id} is now {status}.")


def show_conflict(conflict: dict[str, Any]) -> None:
    st.error(
        f"Someone else saved example #{conflict['id']} while you were editing: you started from version "
        f"{conflict['my_version']}, it is now version {conflict['their_version']}. Nothing was lost — compare both "
        "versions and choose."
    )
    mine_col, theirs_col = st.columns(2)
    mine_col.markdown("**Your version (not saved yet)**")
    theirs_col.markdown(f"**Current version {conflict['their_version']} (saved)**")
    for field in EDIT_FIELDS:
        mine, theirs = conflict["mine"][field], conflict["theirs"][field]
        marker = "" if mine == theirs else "  ← differs"
        for column, value in ((mine_col, mine), (theirs_col, theirs)):
            column.text(field + marker)
            column.code(", ".join(value) if field == "tags" else value or " ", language=None, wrap_lines=True)
    keep, take = st.columns(2)
    keep.button(
        f"Keep mine (save it over version {conflict['their_version']})",
        key="browse_keep_mine",
        type="primary",
        on_click=keep_mine,
    )
    take.button("Take theirs (discard my edits)", key="browse_take_theirs", on_click=take_theirs)


def edit_form(example_id: int, row: dict[str, Any]) -> None:
    loaded = st.session_state[loaded_key(example_id)]
    all_tags = examples.distinct_values(store, "tag")
    with st.form(f"browse_form_{example_id}"):
        for field in TEXT_FIELDS:
            st.text_area(field.capitalize(), key=widget_key(example_id, field), height=150 if field == "output" else 90)
        task_col, tags_col = st.columns(2)
        task_col.text_input("Task", key=widget_key(example_id, "task"))
        current_tags = st.session_state.get(widget_key(example_id, "tags")) or []
        tags_col.multiselect(
            "Tags",
            sorted(set(all_tags) | set(current_tags)),
            key=widget_key(example_id, "tags"),
            accept_new_options=True,
            placeholder="choose or type a new tag",
        )
        st.form_submit_button("Save", type="primary", on_click=save_from_form, args=(example_id,), shortcut="Ctrl+S")
    if row["version"] != loaded["version"] and CONFLICT not in st.session_state:
        st.warning(
            f"This row changed since you opened it (you have version {loaded['version']}, the store has "
            f"{row['version']}). Saving will show both versions."
        )


def show_history(example_id: int, version: int) -> None:
    history = revisions.history(store, example_id)
    if history.empty:
        st.caption("No revisions yet: this row is as imported.")
        return
    history["change"] = [inline_diff(o, n) for o, n in zip(history["old_value"], history["new_value"], strict=True)]
    history["undone"] = history["undone_by"].notna()
    columns = ["revision_id", "action_id", "action", "author", "created_at", "field", "change", "undone"]
    st.dataframe(
        plain_cells(history[columns]),
        hide_index=True,
        width="stretch",
    )
    by_id = history.set_index("revision_id")
    choice = st.selectbox(
        "Revision",
        list(reversed(history["revision_id"].tolist())),
        format_func=lambda r: f"#{r} · {by_id.loc[r, 'field']} · {by_id.loc[r, 'action']} by {by_id.loc[r, 'author']}",
        key=f"browse_revision_{example_id}",
    )
    old, new = by_id.loc[choice, "old_value"], by_id.loc[choice, "new_value"]
    turns = revision_diff(by_id.loc[choice, "field"], old, new)  # a conversation: per-turn changes
    st.code(turns or text_diff(old, new) or "(no change)", language="diff")
    revert, original = st.columns(2)  # labels short enough to show whole beside the editor at 1366 px
    revert.button(
        f"Restore revision #{int(choice)}",
        key="browse_revert",
        on_click=revert_to,
        args=(example_id, int(choice), version),
        help="The row as it was right after this revision",
        width="stretch",
    )
    original.button(
        "Restore the original",
        key="browse_revert_original",
        on_click=revert_to,
        args=(example_id, 0, version),
        help="The row as imported, before any revision",
        width="stretch",
    )
    confirm_revert()


def revert_to(example_id: int, revision_id: int, version: int, force: bool = False) -> None:
    """Revert; when that would discard someone else's or a bulk action's change, ask first (REVERT holds it)."""
    st.session_state.pop(REVERT, None)
    try:
        revisions.revert_to(store, example_id, revision_id, expected_version=version, author=author(), force=force)
    except revisions.UndoConflictError as err:
        st.session_state[REVERT] = {"args": (example_id, revision_id, version), "message": str(err)}
        return
    except ConflictError as err:
        flash("error", f"{inert(err)}. Re-open the row to see the current version.")
        return
    except PermissionDenied as err:
        flash("error", inert(err))
        return
    open_example(example_id)
    where = "its original (imported) text" if revision_id == 0 else f"its state after revision #{revision_id}"
    flash("success", f"Example #{example_id} reverted to {where}.")


def confirm_revert() -> None:
    pending = st.session_state.get(REVERT)
    if not pending:
        return
    with st.container(border=True):
        st.warning(inert(pending["message"]))
        yes, no, _ = st.columns([1.5, 1, 3])
        yes.button("Revert anyway", key="browse_revert_force", type="primary", on_click=revert_to,
                   args=pending["args"], kwargs={"force": True})  # fmt: skip
        no.button("Cancel", key="browse_revert_cancel", on_click=lambda: st.session_state.pop(REVERT, None))


def show_editor(example_id: int) -> None:
    row = examples.get(store, example_id)
    if row is None or loaded_key(example_id) not in st.session_state:
        return
    st.subheader(f"Example #{example_id}")
    st.text(
        f"source: {row['source']} (row {row['source_row']}) · origin: {row['origin']} · status: {row['status']} · "
        f"format: {row['format'] or '-'} · version {row['version']}"
    )
    show_flash()  # next to the editor, where the user is looking after Save / Approve / Revert
    ids = st.session_state.get("browse_page_ids", [])
    position = ids.index(example_id) if example_id in ids else None
    reviewer = may_review()
    edges = ({"previous"} if position in (None, 0) else set()) | (
        {"next"} if position is None or position == len(ids) - 1 else set()
    )
    controls = record.Controls(
        approve=partial(set_row_status, example_id, "approved") if reviewer else None,
        reject=partial(set_row_status, example_id, "rejected") if reviewer else None,
        previous=partial(step_row, -1),
        next=partial(step_row, 1),
        disabled=edges,
    )
    extra = [("Pending", partial(set_row_status, example_id, "pending"))] if reviewer else []
    close = ("Close", lambda: st.session_state.update({OPEN: None}))
    record.decision_bar("browse_row", controls, [*extra, close], per_row=3)  # beside the table: two rows
    conflict = st.session_state.get(CONFLICT)
    if conflict and conflict["id"] == example_id:
        show_conflict(conflict)
    if reviewer:
        if row.get("messages"):  # a conversation: every turn as a chat, edited turn by turn
            conversation_editor(store, row, author(), on_saved=partial(open_example, example_id))
        edit_form(example_id, row)
    elif row.get("messages"):  # a viewer or annotator reads the row; the store would refuse an edit anyway
        show_conversation(row)
    else:
        st.html(record.example_html(row, max_height=record.TEXT_HEIGHT))
    with st.expander("History", expanded=True):
        show_history(example_id, st.session_state[loaded_key(example_id)]["version"])


st.title("Browse")
if OPEN not in st.session_state and _int_param(ROW_PARAM):  # a reload or shared link with ?row=ID
    open_example(_int_param(ROW_PARAM))
if FLASH in st.session_state and not st.session_state.get(OPEN):
    show_flash()
flt = filter_sidebar(store)
if st.session_state.get(OPEN):
    st.query_params[ROW_PARAM] = str(st.session_state[OPEN])
    show_table(flt, editor=partial(show_editor, int(st.session_state[OPEN])))
else:
    st.query_params.pop(ROW_PARAM, None)
    show_table(flt)
