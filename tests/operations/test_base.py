"""The operation contract: parameters are checked by name and rule, the registry refuses a second namesake."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from curation.operations import base


class _Length(base.Operation):
    name = "test-length"
    title = "Length"
    description = "characters in the output"
    defaults: Mapping[str, Any] = {"max_chars": 10}

    def check_params(self, params: Mapping[str, Any]) -> None:
        if int(params["max_chars"]) < 1:
            raise ValueError(f"max_chars must be >= 1; got {params['max_chars']}")

    def score(self, rows: Sequence[base.RowText], params: Mapping[str, Any]) -> list[base.Signal]:
        return [base.Signal(r.id, float(len(r.output))) for r in rows]

    def decide(self, signals: Sequence[base.Signal], params: Mapping[str, Any]) -> list[base.Decision]:
        limit = params["max_chars"]
        return [base.Decision(s.id, f"over {limit} chars", status="rejected") for s in signals if s.score > limit]


def test_params_merge_defaults_and_refuse_unknown_or_bad_values() -> None:
    op = _Length()
    assert op.params({"max_chars": 3}) == {"max_chars": 3}
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['max'\]"):
        op.params({"max": 3})
    with pytest.raises(ValueError, match="max_chars must be >= 1; got 0"):
        op.params({"max_chars": 0})


def test_score_then_decide_rejects_only_rows_over_the_limit() -> None:
    op = _Length()
    rows = [base.RowText(1, 1, "a", output="short"), base.RowText(2, 1, "b", output="much longer text")]
    decisions = op.decide(op.score(rows, op.params()), op.params())
    assert [(d.id, d.status) for d in decisions] == [(2, "rejected")]


def test_registry_refuses_another_operation_with_the_same_name() -> None:
    class _Other(_Length):
        pass

    base.register(_Length())
    with pytest.raises(ValueError, match="registered twice"):
        base.register(_Other())
    assert base.get("test-length").title == "Length"
    with pytest.raises(KeyError, match="no operation 'nope'"):
        base.get("nope")


def test_row_fields_and_text_of_read_fields_then_turns_once_each() -> None:
    turns = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello"}, {"role": "tool"}]
    row = base.RowText(1, 1, "Hi there", output="Hello", messages=turns)
    assert base.row_fields(row) == [
        ("instruction", "Hi there"),
        ("output", "Hello"),
        ("messages[0]", "Hi there"),
        ("messages[1]", "Hello"),
    ]
    assert base.text_of(row) == "Hi there\n\nHello"
    assert base.row_fields(base.RowText(2, 1, " ", input="")) == []
    assert base.text_of(base.RowText(3, 1, "", messages=[{"role": "user", "content": "Only a turn"}])) == "Only a turn"


def test_builtin_operations_are_all_registered() -> None:
    assert {op.name for op in base.all_operations()} >= set(base.BUILTIN)
