"""Which text of an example is compared: the instruction, instruction + input, or everything."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pandas as pd

from curation.filters import ExampleFilter
from curation.store import Store, examples

SCOPES: dict[str, tuple[str, ...]] = {
    "instruction": ("instruction",),
    "instruction_input": ("instruction", "input"),
    "full": ("instruction", "input", "output"),
}
SCOPE_LABELS = {
    "instruction": "instruction only",
    "instruction_input": "instruction + input",
    "full": "instruction + input + output",
}


def check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")


def scope_texts(rows: pd.DataFrame, scope: str) -> list[str]:
    """The compared text of each row: the scope's non-empty fields joined by a newline."""
    check_scope(scope)
    fields = [rows[f].fillna("").astype(str) if f in rows else pd.Series("", index=rows.index) for f in SCOPES[scope]]
    return ["\n".join(part for part in parts if part) for parts in zip(*fields, strict=True)]


def text_hash(text: str) -> str:
    """Stable key of a text for the embedding cache."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def rows_with_input(store: Store, flt: ExampleFilter) -> int:
    """How many of the rows `flt` selects have a non-empty input."""
    return examples.count(store, replace(flt, length_field="input", min_length=1, max_length=None))


def default_scope(rows_with_input: int) -> str:
    """Instruction + input when any compared row has an input: the same instruction on different inputs (Code
    Alpaca's 'Sort these numbers') is a different task, not a duplicate."""
    return "instruction_input" if rows_with_input else "instruction"
