"""Validation before launch: rows longer than max_seq_len (train and held-out alike) and an empty eval set."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_support import (  # noqa: F401
    TAUGHT,
    make_snapshot,
    one_thread,
    snapshot_rows,
    tiny_config,
    tiny_model_dir,
)

from curation.finetune import runner, runs
from curation.finetune import train as train_mod
from curation.finetune.plan import make_plan

pytestmark = pytest.mark.usefixtures("one_thread")

LONG_ANSWER = "the answer goes on and on " * 30


@pytest.fixture
def long_heldout(tmp_path: Path) -> Path:
    """Short train rows; two held-out rows whose answers are far longer than 64 tokens, one short one."""
    pairs = [("Explain at length.", LONG_ANSWER), ("Again, at length.", LONG_ANSWER), ("Hi?", "Hi.")]
    heldout = snapshot_rows(pairs, start=10)
    return make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT), heldout)


def test_plan_shows_what_each_long_row_choice_does(long_heldout: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    plan = make_plan(tiny_config(long_heldout, tiny_model_dir, max_seq_len=64), memory_bytes=8 * 2**30)
    assert plan.errors == [] and plan.eval_examples == 3
    fit = max(plan.heldout_lengths.total)
    assert plan.fit_len == fit > 64
    assert plan.long_row_choices == [
        "truncate: cuts the end of 0 train / 2 held-out rows",
        "drop: leaves out 0 train / 2 held-out rows",
        f"raise max_seq_len to {fit}: every row fits whole",
    ]
    dropped = make_plan(tiny_config(long_heldout, tiny_model_dir, max_seq_len=64, long_rows="drop"))
    assert dropped.errors == [] and dropped.eval_examples == 1


def test_an_empty_eval_set_is_refused_with_the_fix(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    heldout = snapshot_rows([("Explain at length.", LONG_ANSWER)], start=10)
    snap = make_snapshot(tmp_path / "a", snapshot_rows(TAUGHT), heldout)
    errors = make_plan(tiny_config(snap, tiny_model_dir, max_seq_len=64, long_rows="drop")).errors
    assert len(errors) == 1 and errors[0].startswith(
        "eval: the eval set is empty: long_rows: drop leaves out all 1 held-out rows; use truncate or raise max_seq_len"
    )
    no_heldout = make_snapshot(tmp_path / "b", snapshot_rows(TAUGHT))
    errors = make_plan(tiny_config(no_heldout, tiny_model_dir, eval_interval=10)).errors
    assert errors == [
        "eval: the eval set is empty: the snapshot has no held-out rows; make one with a held-out share, "
        "or set eval_interval 0"
    ]
    assert make_plan(tiny_config(no_heldout, tiny_model_dir, eval_interval=0)).errors == []


def test_the_same_prompt_rule_holds_for_train_and_heldout_rows(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    long_prompt = [("Repeat this: " + "word " * 80, "ok")]
    snap = make_snapshot(tmp_path, snapshot_rows(TAUGHT + long_prompt), snapshot_rows(long_prompt + TAUGHT, start=10))
    errors = make_plan(tiny_config(snap, tiny_model_dir, max_seq_len=64)).errors
    assert [e.split(" (e.g.")[0] for e in errors] == [
        "max_seq_len: 64 is shorter than the prompt of 1 train row(s)",
        "max_seq_len: 64 is shorter than the prompt of 1 held-out row(s)",
    ]
    assert make_plan(tiny_config(snap, tiny_model_dir, max_seq_len=64, long_rows="drop")).errors == []


def test_truncated_heldout_rows_are_evaluated_not_left_out(long_heldout: Path, tiny_model_dir: Path, tmp_path) -> None:  # noqa: F811
    from curation.finetune import compare

    cfg = tiny_config(long_heldout, tiny_model_dir, max_seq_len=64, max_steps=2, eval_interval=1)
    run_dir = runner.create_run(cfg, tmp_path / "runs")
    result = train_mod.train(run_dir)
    assert [r["step"] for r in runs.read_progress(run_dir) if r["type"] == "eval"] == [0, 1, 2]
    assert result["final_eval_loss"] is not None
    table = compare.slice_losses(run_dir)
    assert table.set_index(["slice", "value"]).loc[("all", "all"), "examples"] == 3


def test_heldout_prompts_too_long_are_refused_not_silently_left_out(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    long_prompt = [("Repeat this: " + "word " * 80, "ok"), ("And this: " + "term " * 80, "ok")]
    snap = make_snapshot(tmp_path, snapshot_rows(TAUGHT), snapshot_rows(long_prompt, start=10))
    errors = make_plan(tiny_config(snap, tiny_model_dir, max_seq_len=64)).errors
    assert errors[0].startswith("max_seq_len: 64 is shorter than the prompt of 2 held-out row(s) (e.g. example 10")
    assert errors[1].startswith("eval: the eval set is empty: no held-out prompt fits max_seq_len 64; raise it to")
    assert len(errors) == 2
