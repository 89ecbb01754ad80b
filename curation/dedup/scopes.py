"""Which text of an example is compared: the instruction, instruction + input, everything, or for conversations the
first user turn, all user turns, or the whole conversation (tool calls included).

A row without `messages` counts as a one-exchange chat (instruction + input as the user turn, output as the reply),
so a plain row and a chat that says the same thing are compared alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pandas as pd
import pyarrow as pa

from curation.filters import ExampleFilter
from curation.io import chat
from curation.io.export import conversation
from curation.store import Store, examples

SCOPES: dict[str, tuple[str, ...]] = {
    "instruction": ("instruction",),
    "instruction_input": ("instruction", "input"),
    "full": ("instruction", "input", "output"),
    "first_user": ("instruction", "input", "output", "messages"),
    "user_turns": ("instruction", "input", "output", "messages"),
    "conversation": ("instruction", "input", "output", "messages"),
}
CHAT_SCOPES = ("first_user", "user_turns", "conversation")
SCOPE_LABELS = {
    "instruction": "instruction only",
    "instruction_input": "instruction + input",
    "full": "instruction + input + output",
    "first_user": "chat: first user turn",
    "user_turns": "chat: all user turns",
    "conversation": "chat: whole conversation",
}


def check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")


def _chat_text(row: dict[str, Any], scope: str) -> str:
    turns = conversation({k: "" if v is None or v != v else v for k, v in row.items()})
    if scope == "first_user":
        return chat.user_texts(turns)[0]
    if scope == "user_turns":
        return "\n".join(chat.user_texts(turns))
    return chat.whole_text(turns)


def scope_texts(rows: pd.DataFrame, scope: str) -> list[str]:
    """The compared text of each row: the scope's non-empty fields joined by a newline, or the chat text."""
    check_scope(scope)
    if scope in CHAT_SCOPES:
        frame = rows.reindex(columns=list(SCOPES[scope]))
        frame["messages"] = frame["messages"].astype(object).where(frame["messages"].notna(), None)
        return [_chat_text(row, scope) for row in frame.to_dict("records")]
    fields = [rows[f].fillna("").astype(str) if f in rows else pd.Series("", index=rows.index) for f in SCOPES[scope]]
    return ["\n".join(part for part in parts if part) for parts in zip(*fields, strict=True)]


def text_hash(text: str) -> str:
    """Stable key of a text for the embedding cache."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def scope_text_array(table: pa.Table, scope: str) -> pa.Array:
    """`scope_texts` of an Arrow table of rows, as an Arrow string array (one field: the column itself, with no
    Python string per row)."""
    check_scope(scope)
    fields = SCOPES[scope]
    if len(fields) == 1:
        if fields[0] not in table.column_names:
            return pa.array([""] * table.num_rows, type=pa.large_string())
        return table.column(fields[0]).combine_chunks().cast(pa.large_string()).fill_null("")
    frame = pd.DataFrame({f: table.column(f).to_pylist() for f in fields if f in table.column_names})
    return pa.array(scope_texts(frame, scope), type=pa.large_string())


def rows_with_input(store: Store, flt: ExampleFilter) -> int:
    """How many of the rows `flt` selects have a non-empty input."""
    return examples.count(store, replace(flt, length_field="input", min_length=1, max_length=None))


def default_scope(rows_with_input: int) -> str:
    """Instruction + input when any compared row has an input: the same instruction on different inputs (Code
    Alpaca's 'Sort these numbers') is a different task, not a duplicate."""
    return "instruction_input" if rows_with_input else "instruction"
