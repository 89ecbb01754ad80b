"""The experiment accuracy table: per model and slice, Δ vs base and vs the first run with paired p-values."""

from __future__ import annotations

import pytest

from curation.evaluate.experiment import accuracy_table


def _saved(model: str, correct: list[bool], slices: list[str]) -> dict:
    items = [
        {"index": i, "correct": c, "slices": {"task_cluster": s}}
        for i, (c, s) in enumerate(zip(correct, slices, strict=True))
    ]
    return {"model": model, "item_set_hash": "h", "items": items}


def test_table_rows_deltas_and_verdicts() -> None:
    slices = ["a"] * 100 + ["b"] * 100
    base = [False] * 200
    raw = [True] * 100 + [False] * 100  # right on every 'a' item only
    curated = [True] * 100 + [False] * 100
    saved = [_saved("run-2", curated, slices), _saved("base", base, slices), _saved("run-1", raw, slices)]
    table = accuracy_table(saved, {"run-1": "raw", "run-2": "curated"})
    assert list(zip(table["slice"], table["value"], table["model"], strict=True)) == [
        ("all", "all", "base"), ("all", "all", "run-1"), ("all", "all", "run-2"),
        ("task_cluster", "a", "base"), ("task_cluster", "a", "run-1"), ("task_cluster", "a", "run-2"),
        ("task_cluster", "b", "base"), ("task_cluster", "b", "run-1"), ("task_cluster", "b", "run-2"),
    ]  # fmt: skip
    rows = table.set_index(["slice", "value", "model"])
    assert rows.loc[("all", "all", "run-1"), "accuracy"] == 0.5
    assert rows.loc[("all", "all", "run-1"), "snapshot"] == "raw"
    assert rows.loc[("all", "all", "run-1"), "delta_base"] == pytest.approx(0.5)
    assert rows.loc[("all", "all", "run-1"), "p_base"] < 0.01
    assert rows.loc[("all", "all", "run-1"), "vs_base"].endswith("better")
    assert rows.loc[("all", "all", "run-1"), "vs_first"] == ""  # the first run is the reference
    assert rows.loc[("all", "all", "base"), "vs_base"] == rows.loc[("all", "all", "base"), "vs_first"] == ""
    assert rows.loc[("all", "all", "run-2"), "delta_first"] == 0.0
    assert rows.loc[("all", "all", "run-2"), "vs_first"].endswith("no significant difference")
    assert rows.loc[("task_cluster", "a", "run-2"), "accuracy"] == 1.0
    assert rows.loc[("task_cluster", "b", "run-2"), "accuracy"] == 0.0
    assert rows.loc[("task_cluster", "b", "run-2"), "vs_base"].endswith("no significant difference")
    assert rows.loc[("task_cluster", "a", "base"), "n"] == 100


def test_no_results_give_an_empty_table() -> None:
    assert accuracy_table([], {"run-1": "raw"}).empty
