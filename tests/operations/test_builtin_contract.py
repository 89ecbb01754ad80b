"""Every built-in operation keeps the contract: one JSON-able signal per row, in order, from picklable parts."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.operations import base
from curation.operations.pii import Pii

ROWS = [
    base.RowText(10, 1, ""),
    base.RowText(11, 2, "Name three colours.", output="Red, green and blue."),
    base.RowText(12, 1, "", messages=[{"role": "user", "content": "Привет! Как дела?"}, {"role": "assistant"}]),
    base.RowText(13, 1, "東京は日本の首都です。", input="x" * 5000, output="<think>\nunclosed"),
]


def _params(name: str, tmp_path: Path) -> dict:
    if name == "ngram_contamination":
        path = tmp_path / "eval.jsonl"
        path.write_text(json.dumps({"question": "Name three colours."}) + "\n", encoding="utf-8")
        return {"eval_files": [str(path)], "n": 2}
    return {"accuracy": "low"} if name == "language" else {}


@pytest.mark.parametrize("name", base.BUILTIN)
def test_one_json_able_signal_per_row_in_order_and_picklable(name: str, tmp_path: Path) -> None:
    op = base.get(name)
    params = op.params(_params(name, tmp_path))
    signals = op.score(ROWS, params)
    assert [s.id for s in signals] == [r.id for r in ROWS]
    json.dumps([s.evidence for s in signals])
    assert all(s.label is None or isinstance(s.label, str) for s in signals)
    assert pickle.loads(pickle.dumps((op, signals)))[1] == signals  # what a process pool or Ray sends back
    decisions = op.decide(signals, params)
    assert {d.id for d in decisions} <= {r.id for r in ROWS}
    assert op.score([], params) == []


_PLAIN = st.text(alphabet="abcdefghij ,.;!?", max_size=60)


@settings(max_examples=60, deadline=None)
@given(before=_PLAIN, after=_PLAIN, user=st.from_regex(r"[a-z][a-z0-9._]{0,10}[a-z0-9]", fullmatch=True))
def test_redaction_replaces_exactly_the_inserted_address(before: str, after: str, user: str) -> None:
    email = f"{user}@mail.example.org"
    text = f"{before} {email} {after}"
    op = Pii()
    [signal] = op.score([base.RowText(1, 1, text)], op.params())
    assert [(s["start"], s["end"], s["kind"]) for s in signal.evidence["spans"]] == [
        (len(before) + 1, len(before) + 1 + len(email), "email")
    ]
    [decision] = op.decide([signal], op.params())
    assert decision.edits == {"instruction": f"{before} [EMAIL] {after}"}
