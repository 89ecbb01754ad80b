"""Which text of an example is compared: the instruction, instruction + input, or everything."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa

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
