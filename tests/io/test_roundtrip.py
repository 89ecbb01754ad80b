"""Property: for every export format, import -> export -> import gives the same rows, whatever the text holds."""

from __future__ import annotations

import io
import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.filters import ExampleFilter
from curation.io import export, importers
from curation.store import Store

# Characters that broke or could break a reader: line separators JSON allows unescaped (str.splitlines splits on
# them), NUL, CR/LF, quotes and backslashes, emoji (astral plane), right-to-left text and marks.
TRICKY = [
    "\u2028",
    "\u2029",
    "\x85",
    "\x00",
    "\r\n",
    "\n",
    "\r",
    '"',
    "\\",
    "😀",
    "👩‍👩‍👧",
    "שלום",
    "مرحبا",
    "\u200f",
    "\t",
]
pieces = st.one_of(st.sampled_from(TRICKY), st.text(st.characters(exclude_categories=["Cs"]), max_size=12))
texts = st.lists(pieces, max_size=6).map("".join)
long_texts = st.builds(lambda unit, n: unit * n, st.sampled_from(["ab\u2028", "😀", "x"]), st.integers(20_000, 60_000))
field = st.one_of(texts, long_texts)
instruction = st.one_of(texts, long_texts).map(lambda t: f"Q{t}")  # never blank (a blank instruction is refused)
names = st.one_of(st.none(), texts.filter(bool))
row = st.fixed_dictionaries(
    {
        "instruction": instruction,
        "input": field,
        "output": field,
        "task": names,
        "task_cluster": names,
        "tags": st.lists(texts.filter(bool), max_size=3, unique=True),
    }
)
rows = st.lists(row, min_size=1, max_size=4)
KEYS = ("instruction", "input", "output", "task", "task_cluster", "tags")
PROPERTY = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def imported(store: Store, data: bytes, file_name: str, fmt: str) -> tuple[ExampleFilter, list[dict]]:
    source = file_name.rsplit(".", 1)[0]
    importers.import_bytes(store, data, file_name, fmt, source_name=source)
    only = ExampleFilter(sources=[source])
    found = [
        {k: (sorted(r[k]) if k == "tags" else None if r[k] is None or r[k] != r[k] else r[k]) for k in KEYS}
        for r in export.export_frame(store, only).to_dict("records")
    ]
    return only, found


def round_trip(data: bytes, file_name: str, fmt: str) -> tuple[list[dict], list[dict]]:
    """Rows of the first import and of the re-import of its export (two sources of one in-memory store)."""
    with Store(":memory:") as store:
        first, before = imported(store, data, file_name, fmt)
        exported, _ = export.build(store, first, fmt)
        _, after = imported(store, exported, f"again-{file_name}", fmt)
    return before, after


@PROPERTY
@given(rows)
def test_alpaca_round_trip(records: list[dict]) -> None:
    before, after = round_trip(json.dumps(records, ensure_ascii=False).encode(), "a.json", "alpaca")
    assert after == before
    assert [r["output"] for r in after] == [r["output"] for r in records]


@PROPERTY
@given(rows)
def test_messages_round_trip(records: list[dict]) -> None:
    chats = [
        {
            "messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}],
            **{k: r[k] for k in ("task", "task_cluster", "tags")},
        }
        for r in records
    ]
    data = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in chats).encode()
    before, after = round_trip(data, "c.jsonl", "messages")
    assert after == before
    assert [r["instruction"] for r in after] == [r["instruction"] for r in records]


@PROPERTY
@given(rows)
def test_parquet_round_trip(records: list[dict]) -> None:
    buffer = io.BytesIO()
    pd.DataFrame(records).to_parquet(buffer, index=False)
    before, after = round_trip(buffer.getvalue(), "t.parquet", "parquet")
    assert after == before
    assert [r["input"] for r in after] == [r["input"] for r in records]
