"""A conversation as a chat: every turn with its role, text, tool calls and results, reasoning folded; and an editor
for it (edit, add, remove and reorder turns, the system prompt, the tool schemas), saved as one undoable revision.

The working copy lives in session state per row; a save goes through `revisions.update_example` with the version
the copy was loaded from, so an edit made meanwhile elsewhere is a conflict the user resolves, as in Browse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from curation.identity import PermissionDenied
from curation.io import chat, export
from curation.store import ConflictError, Store, examples, revisions
from ui.text import inert

AVATARS = {"system": ":material/settings:", "user": "user", "assistant": "assistant", "tool": ":material/build:"}
ROLES = ("user", "assistant", "tool", "system")


def _key(example_id: int, *parts: object) -> str:
    return "_".join(["conv", str(example_id), *map(str, parts)])


def _load(example_id: int, row: dict[str, Any]) -> None:
    """Start a working copy from the row as exported (its first exchange set to the current instruction / output)."""
    turns = export.conversation(row)
    for key in [k for k in st.session_state if str(k).startswith(_key(example_id, ""))]:
        del st.session_state[key]
    st.session_state[_key(example_id)] = {
        "version": int(row["version"]),
        "turns": turns,
        "uids": list(range(len(turns))),
        "next": len(turns),
        "action": st.session_state.get(_key(example_id), {}).get("action"),
    }
    st.session_state[_key(example_id, "tools")] = json.dumps(row.get("tools") or [], ensure_ascii=False, indent=1)


def _state(example_id: int) -> dict[str, Any]:
    return st.session_state[_key(example_id)]


def _from_widgets(example_id: int) -> list[dict[str, Any]]:
    """The working turns with the text the user typed (widgets not drawn keep the copy's values)."""
    state, out = _state(example_id), []
    for uid, turn in zip(state["uids"], state["turns"], strict=True):
        turn = dict(turn)
        for field in ("content", "reasoning_content", "tool_call_id"):
            value = st.session_state.get(_key(example_id, uid, field))
            if value is not None:
                turn[field] = value
            if field != "content" and turn.get(field) == "":
                turn.pop(field)
        calls = st.session_state.get(_key(example_id, uid, "tool_calls"))
        if calls is not None:
            turn["tool_calls"] = json.loads(calls) if calls.strip() else None
            if not turn["tool_calls"]:
                turn.pop("tool_calls")
        out.append(turn)
    return out


def _keep_typing(example_id: int) -> None:
    _state(example_id)["turns"] = _from_widgets(example_id)


def _move(example_id: int, index: int, delta: int) -> None:
    _keep_typing(example_id)
    state = _state(example_id)
    for name in ("turns", "uids"):
        items = state[name]
        items[index], items[index + delta] = items[index + delta], items[index]


def _remove(example_id: int, index: int) -> None:
    _keep_typing(example_id)
    state = _state(example_id)
    del state["turns"][index], state["uids"][index]


def _add(example_id: int) -> None:
    _keep_typing(example_id)
    state = _state(example_id)
    role = st.session_state.get(_key(example_id, "new_role"), "user")
    turn: dict[str, Any] = {"role": role, "content": ""}
    if role == "system":
        state["turns"].insert(0, turn)
        state["uids"].insert(0, state["next"])
    else:
        state["turns"].append(turn)
        state["uids"].append(state["next"])
    state["next"] += 1


def _save(store: Store, example_id: int, author: str, on_saved: Callable[[], None], force_version: int | None) -> None:
    state = _state(example_id)
    st.session_state.pop(_key(example_id, "error"), None)
    try:
        turns = _from_widgets(example_id)
        changes = chat.edit_changes(turns, st.session_state.get(_key(example_id, "tools"), ""))
        version = state["version"] if force_version is None else force_version
        new_version = revisions.update_example(
            store, example_id, changes, expected_version=version, author=author, description="conversation"
        )
    except (chat.ChatError, ValueError) as err:
        st.session_state[_key(example_id, "error")] = f"Not saved: {err}"
        return
    except ConflictError as err:
        st.session_state[_key(example_id, "conflict")] = int(err.current["version"])
        return
    except PermissionDenied as err:
        st.session_state[_key(example_id, "error")] = str(err)
        return
    new_action = int(revisions.history(store, example_id)["action_id"].iloc[-1]) if new_version > version else None
    state["action"] = new_action or state.get("action")
    on_saved()
    _load(example_id, examples.get(store, example_id))
    message = f"Saved the conversation of #{example_id}." if new_action else "No change to save."
    st.session_state[_key(example_id, "flash")] = message


def _undo_redo(store: Store, example_id: int, author: str, op: str, on_saved: Callable[[], None]) -> None:
    state = _state(example_id)
    verb = revisions.undo_action if op == "undo" else revisions.redo_action
    try:
        verb(store, state["action"], author=author)
    except (revisions.UndoConflictError, ValueError, KeyError, PermissionDenied) as err:
        st.session_state[_key(example_id, "error")] = str(err)
        return
    on_saved()
    _load(example_id, examples.get(store, example_id))
    st.session_state[_key(example_id, "flash")] = (
        f"Undid the conversation edit of #{example_id}." if op == "undo" else f"Redid the edit of #{example_id}."
    )
    st.session_state[_key(example_id, "undone")] = op == "undo"


def _show_turn(turn: dict[str, Any], index: int) -> None:
    st.caption(f"turn {index} · {turn['role']}")
    if turn.get("reasoning_content"):
        with st.expander("Reasoning", icon=":material/psychology:"):
            st.text(turn["reasoning_content"])
    if turn["content"]:
        st.text(turn["content"])
    for call in turn.get("tool_calls") or []:
        function = call["function"]
        try:
            arguments = json.dumps(json.loads(function["arguments"]), ensure_ascii=False)
        except ValueError:
            arguments = function["arguments"]
        label = f"call {function['name']}" + (f" · id {call['id']}" if call.get("id") else "")
        st.caption(label)
        st.code(arguments, language="json", wrap_lines=True)
    if turn["role"] == "tool" and turn.get("tool_call_id"):
        st.caption(f"result of call {turn['tool_call_id']}")


def _edit_turn(example_id: int, uid: int, turn: dict[str, Any], index: int, count: int) -> None:
    label, up, down, remove = st.columns([4, 1, 1, 1], vertical_alignment="bottom")
    label.caption(f"turn {index} · {turn['role']}")
    up.button("↑", key=_key(example_id, uid, "up"), on_click=_move, args=(example_id, index, -1), disabled=index == 0)
    down.button(
        "↓", key=_key(example_id, uid, "down"), on_click=_move, args=(example_id, index, 1), disabled=index == count - 1
    )
    remove.button("✕", key=_key(example_id, uid, "remove"), on_click=_remove, args=(example_id, index), help="Remove")
    for field, default in (("content", turn["content"]), ("reasoning_content", turn.get("reasoning_content", ""))):
        if field == "reasoning_content" and turn["role"] != "assistant":
            continue
        key = _key(example_id, uid, field)
        st.session_state.setdefault(key, default)
        st.text_area("Text" if field == "content" else "Reasoning", key=key, height=100 if field == "content" else 68)
    if turn["role"] == "assistant":
        key = _key(example_id, uid, "tool_calls")
        st.session_state.setdefault(key, json.dumps(turn.get("tool_calls") or [], ensure_ascii=False, indent=1))
        st.text_area("Tool calls (JSON list; arguments as JSON text)", key=key, height=68)
    if turn["role"] == "tool":
        key = _key(example_id, uid, "tool_call_id")
        st.session_state.setdefault(key, turn.get("tool_call_id", ""))
        st.text_input("Answers tool call id", key=key)


def show_conversation(row: dict[str, Any]) -> None:
    """The row's conversation as a chat, read-only (the review queue)."""
    for index, turn in enumerate(export.conversation(row)):
        with st.chat_message(turn["role"], avatar=AVATARS.get(turn["role"], "assistant")):
            _show_turn(turn, index)
    if row.get("tools"):
        with st.expander(f"Tools ({len(row['tools'])})"):
            st.code(json.dumps(row["tools"], ensure_ascii=False, indent=1), language="json", wrap_lines=True)


def conversation_editor(store: Store, row: dict[str, Any], author: str, on_saved: Callable[[], None]) -> None:
    """The row's conversation as a chat, with an Edit switch; `on_saved` runs after each save, undo or redo."""
    example_id = int(row["id"])
    if _key(example_id) not in st.session_state:
        _load(example_id, row)
    state = _state(example_id)
    for kind, show in (("flash", st.success), ("error", st.error)):
        if st.session_state.get(_key(example_id, kind)):
            show(inert(st.session_state.pop(_key(example_id, kind))))
    if int(row["version"]) != state["version"] and not st.session_state.get(_key(example_id, "conflict")):
        st.warning(f"This conversation changed since you opened it (now version {row['version']}).")
        st.button("Reload the conversation", key=_key(example_id, "reload"), on_click=_load, args=(example_id, row))
    editing = st.toggle("Edit conversation", key=_key(example_id, "editing"))
    turns = state["turns"]
    for index, (uid, turn) in enumerate(zip(state["uids"], turns, strict=True)):
        with st.chat_message(turn["role"], avatar=AVATARS.get(turn["role"], "assistant")):
            if editing:
                _edit_turn(example_id, uid, turn, index, len(turns))
            else:
                _show_turn(turn, index)
    tools = row.get("tools")
    if editing:
        role, add = st.columns([2, 1], vertical_alignment="bottom")
        role.selectbox("New turn", ROLES, key=_key(example_id, "new_role"))
        add.button("Add turn", key=_key(example_id, "add"), on_click=_add, args=(example_id,))
        st.text_area("Tool schemas (JSON list)", key=_key(example_id, "tools"), height=100)
    elif tools:
        with st.expander(f"Tools ({len(tools)})"):
            st.code(json.dumps(tools, ensure_ascii=False, indent=1), language="json", wrap_lines=True)
    _buttons(store, example_id, author, on_saved, editing)


def _buttons(store: Store, example_id: int, author: str, on_saved: Callable[[], None], editing: bool) -> None:
    state = _state(example_id)
    conflict = st.session_state.get(_key(example_id, "conflict"))
    if conflict:
        st.error(
            f"Someone else saved #{example_id} while you edited (you started from version {state['version']}, it "
            f"is now {conflict}). Keep your conversation over theirs, or reload theirs and lose your edits."
        )
    save, undo, redo = st.columns(3)
    if editing or conflict:
        save.button(
            "Keep mine" if conflict else "Save conversation",
            key=_key(example_id, "save"),
            type="primary",
            on_click=_save,
            args=(store, example_id, author, on_saved, conflict),
        )
    if conflict:
        current = examples.get(store, example_id)
        undo.button("Take theirs", key=_key(example_id, "theirs"), on_click=_load, args=(example_id, current))
        return
    if state.get("action"):
        undone = st.session_state.get(_key(example_id, "undone"), False)
        undo.button(
            "Undo edit",
            key=_key(example_id, "undo"),
            on_click=_undo_redo,
            args=(store, example_id, author, "undo", on_saved),
            disabled=undone,
        )
        redo.button(
            "Redo edit",
            key=_key(example_id, "redo"),
            on_click=_undo_redo,
            args=(store, example_id, author, "redo", on_saved),
            disabled=not undone,
        )


def revision_diff(field: str, old: str | None, new: str | None) -> str | None:
    """A conversation revision as per-turn changes (None for other fields, which keep their text diff)."""
    if field != "messages":
        return None
    return "\n\n".join(chat.conversation_diff(old, new)) or "(no change)"
