"""The whole example at a readable size: instruction, input and output as text boxes that scroll on their own (a
tall example never pushes the controls off screen), optionally with the tokens shared with another row marked;
and the record view every reviewing page uses: one decision bar with the same keys everywhere, the example,
its metadata and scores, edit in place."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from curation.dedup.highlight import highlighted_html
from curation.identity import PermissionDenied
from curation.store import ConflictError, Store, revisions, scores
from ui import feedback
from ui.conversation import show_conversation
from ui.state import author
from ui.text import inert

FIELDS = ("instruction", "input", "output")
LABELS = {"instruction": "Instruction", "input": "Input", "output": "Output"}
BOX_HEIGHT = "14em"


def _text(row: Mapping, field: str) -> str:
    value = row.get(field)
    return "" if value is None or value != value else str(value)  # NaN from a DataFrame is no text


def field_html(label: str, field: str, body: str, max_height: str) -> str:
    """One labelled, scrollable box; `body` is already safe HTML."""
    return (
        f'<div data-field="{field}" style="margin-bottom:0.5em">'
        f'<div style="font-size:0.8em;font-weight:600;opacity:0.7">{html.escape(label)}</div>'
        f'<div style="max-height:{max_height};overflow-y:auto;border:1px solid rgba(128,128,128,0.3);'
        f'border-radius:0.3em;padding:0.25em 0.4em">{body}</div></div>'
    )


def example_html(
    row: Mapping,
    other: Mapping | None = None,
    *,
    fields: Sequence[str] = FIELDS,
    tokenizer: str = "rouge",
    max_height: str = BOX_HEIGHT,
) -> str:
    """Instruction, input and output of `row`, each in its own box; with `other`, the tokens each field shares with
    the same field of `other` are marked. An empty field shows "(empty)" in italics, outside the text itself."""
    parts = []
    for name in fields:
        text = _text(row, name)
        if not text:
            body = '<em style="opacity:0.6">(empty)</em>'
        else:
            body = highlighted_html(text, None if other is None else _text(other, name), tokenizer)
        parts.append(field_html(LABELS.get(name, name), name, body, max_height))
    return f'<div style="font-size:1rem;line-height:1.5">{"".join(parts)}</div>'


# -- the record view ----------------------------------------------------------------------------
# The decision keys, the same on every page that reviews rows (Review, Browse, Generate, Dedup, Annotate).
KEYS = {
    "approve": ("Approve", "A"),
    "reject": ("Reject", "D"),
    "skip": ("Skip", "S"),
    "undo": ("Undo", "U"),
    "edit": ("Edit", "E"),
    "previous": ("Prev", "K"),
    "next": ("Next", "J"),
}
TEXT_HEIGHT = "45vh"  # each text box scrolls on its own: the controls above stay on screen at 768 px


@dataclass
class Controls:
    """What a page does on each decision key; a None action hides its button. `labels` renames a button
    (Dedup: "Accept cluster" on A); `disabled` greys one out (Undo with nothing to undo)."""

    approve: Callable[[], None] | None = None
    reject: Callable[[], None] | None = None
    skip: Callable[[], None] | None = None
    undo: Callable[[], None] | None = None
    edit: Callable[[], None] | None = None
    previous: Callable[[], None] | None = None
    next: Callable[[], None] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    primary: str = "approve"


def decision_bar(
    key: str, controls: Controls, extra: Sequence[tuple[str, Callable[[], None]]] = (), per_row: int = 8
) -> None:
    """Buttons with the same shortcuts everywhere (each shows its key), `per_row` to a row (a narrow column takes
    two rows); `extra` adds page-specific buttons at the end."""
    shown = [name for name in KEYS if getattr(controls, name) is not None]
    if not shown and not extra:
        return
    count = len(shown) + len(extra)
    cells = [cell for start in range(0, count, per_row) for cell in st.columns(min(per_row, count - start))]
    for cell, name in zip(cells, shown, strict=False):
        label, shortcut = KEYS[name]
        cell.button(
            controls.labels.get(name, label),
            key=f"{key}_{name}",
            shortcut=shortcut,
            type="primary" if name == controls.primary else "secondary",
            on_click=getattr(controls, name),
            disabled=name in controls.disabled,
            width="stretch",
        )
    for cell, (label, action) in zip(cells[len(shown) :], extra, strict=True):
        cell.button(label, key=f"{key}_extra_{label}", on_click=action, width="stretch")


def editing_key(key: str) -> str:
    return f"{key}_editing"


def toggle_edit(key: str, example_id: int) -> None:
    """E: open the fields of `example_id` for editing in place, or close them."""
    editing = st.session_state.get(editing_key(key))
    st.session_state[editing_key(key)] = None if editing == example_id else example_id


def _save_edit(store: Store, key: str, row: dict[str, Any]) -> None:
    values = {f: st.session_state.get(f"{key}_edit_{row['id']}_{f}", "") for f in FIELDS}
    changes = {f: v for f, v in values.items() if v != (row.get(f) or "")}
    if not changes:
        st.session_state[editing_key(key)] = None
        return
    try:
        version = revisions.update_example(
            store, int(row["id"]), changes, expected_version=int(row["version"]), author=author()
        )
    except ConflictError:
        feedback.flash(f"{key}_flash", "error", f"#{row['id']} changed since it was shown; not saved. Edit it again.")
        st.session_state[editing_key(key)] = None
        return
    except PermissionDenied as err:
        feedback.flash(f"{key}_flash", "error", f"Not saved: {inert(err)}.")
        return
    st.session_state[editing_key(key)] = None
    feedback.flash(f"{key}_flash", "success", f"Saved #{row['id']} (now version {version}); undoable in History.")


def _edit_form(store: Store, key: str, row: dict[str, Any]) -> None:
    with st.form(f"{key}_edit_form_{row['id']}"):
        for name in FIELDS:
            st.text_area(LABELS[name], value=row.get(name) or "", key=f"{key}_edit_{row['id']}_{name}", height=160)
        save, cancel = st.columns(2)
        save.form_submit_button("Save", type="primary", shortcut="Ctrl+S", on_click=_save_edit, args=(store, key, row))
        cancel.form_submit_button("Cancel", on_click=toggle_edit, args=(key, int(row["id"])))


def header(row: dict[str, Any]) -> str:
    """One Markdown line of what the row is: id, status (bold), source, origin, task, tags (user text escaped)."""
    tags = ", ".join(row.get("tags") or []) or "no tags"
    parts = [
        f"source {row.get('source') or '-'}",
        f"origin {row.get('origin') or '-'}",
        f"task {row.get('task') or '-'}",
    ]
    return f"\\#{row['id']} · **{inert(row.get('status', '?'))}** · " + inert(" · ".join([*parts, f"tags: {tags}"]))


def side_panel(store: Store, row: dict[str, Any]) -> None:
    """Metadata and every stored score of the row."""
    facts = {
        "version": row.get("version"),
        "format": row.get("format"),
        "source row": row.get("source_row"),
        "created": row.get("created_at"),
    }
    st.caption(inert(" · ".join(f"{k} {v}" for k, v in facts.items() if v not in (None, ""))))
    found = scores.example_scores(store, int(row["id"]))
    if found:
        st.markdown("**Scores**")
        for item in found:
            score = "-" if item["score"] is None else f"{item['score']:.3f}".rstrip("0").rstrip(".")
            stale = " (row edited since)" if item.get("stale") else ""
            st.caption(inert(f"{item['name']}: {score}{stale}" + (f" — {item['detail']}" if item["detail"] else "")))
    meta = row.get("meta")
    if meta:
        with st.expander("Metadata"):
            st.json(meta, expanded=False)


def record_view(store: Store, row: dict[str, Any], *, key: str, controls: Controls, extra=()) -> None:
    """The decision bar, then the whole example (its own scrolling boxes) beside its metadata and scores."""
    decision_bar(key, controls, extra)
    feedback.show_flash(f"{key}_flash")
    st.markdown(header(row))
    text_col, side_col = st.columns([3, 1])
    with text_col:
        if st.session_state.get(editing_key(key)) == row["id"]:
            _edit_form(store, key, row)
        elif row.get("messages"):  # every turn as a chat: tool calls, results, folded reasoning, the tools
            show_conversation(row)
        else:
            st.html(example_html(row, max_height=TEXT_HEIGHT))
    with side_col:
        side_panel(store, row)
