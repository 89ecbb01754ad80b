"""`eval run --json` prints the issue's shape with per-item predictions an independent computation reproduces;
`eval compare` prints the paired difference; results are saved for the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_support import reference_scores
from finetune_support import one_thread, tiny_model_dir  # noqa: F401
from typer.testing import CliRunner

from curation.cli import app
from curation.store import Store, evaluations

LINES = [
    {"question": "Is fire hot?", "options": ["yes", "no"], "answer": "yes"},
    {"question": "Which is a colour?", "options": ["red", "table", "seven"], "answer": 0},
    {"question": "Pick the odd one.", "options": ["cat", "dog", "car"], "answer": "car"},
]


@pytest.fixture
def eval_file(tmp_path: Path) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in LINES), encoding="utf-8")
    return path


def _invoke(tmp_path: Path, *args: object):
    return CliRunner().invoke(app, ["--db", str(tmp_path / "cli.duckdb"), *map(str, args)])


def test_eval_run_json_has_the_documented_shape_and_reproducible_predictions(
    tmp_path, eval_file, tiny_model_dir, one_thread  # noqa: F811
) -> None:  # fmt: skip
    result = _invoke(tmp_path, "eval", "run", "--model", tiny_model_dir, "--file", eval_file, "--json", "--limit", 2)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"n", "accuracy", "ci95", "accuracy_norm", "items"}
    assert out["n"] == 2 and [i["index"] for i in out["items"]] == [0, 1]
    assert all(set(i) == {"index", "pred", "correct", "option_scores"} for i in out["items"])
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)
    for line, item in zip(LINES, out["items"], strict=False):
        sums = [s for s, _ in reference_scores(model, tok, line["question"], line["options"])]
        assert item["option_scores"] == pytest.approx(sums, abs=1e-4)
        assert item["pred"] == sums.index(max(sums))
    right = [i["correct"] for i in out["items"]]
    assert right == [out["items"][0]["pred"] == 0, out["items"][1]["pred"] == 0]
    assert out["accuracy"] == sum(right) / 2
    assert out["ci95"][0] <= out["accuracy"] <= out["ci95"][1]
    with Store(tmp_path / "cli.duckdb") as store:
        saved = evaluations.latest(store)
    assert [(s["model"], s["n"], s["accuracy"]) for s in saved] == [(tiny_model_dir.name, 2, out["accuracy"])]
    listed = _invoke(tmp_path, "eval", "results").stdout.splitlines()
    assert listed[0].split()[:4] == ["id", "created_at", "model", "experiment"]
    assert f" {tiny_model_dir.name} " in listed[1] and f" {round(out['accuracy'], 4)} " in listed[1]


def test_eval_compare_prints_the_paired_difference(tmp_path, eval_file, tiny_model_dir, one_thread) -> None:  # noqa: F811
    result = _invoke(tmp_path, "eval", "compare", tiny_model_dir, tiny_model_dir, "--file", eval_file, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["diff"] == 0.0 and out["ci95"] == [0.0, 0.0] and out["significant"] is False
    assert out["a"]["items"] == out["b"]["items"]
    text = _invoke(tmp_path, "eval", "compare", tiny_model_dir, tiny_model_dir, "--file", eval_file)
    assert text.stdout.strip().endswith("no significant difference"), text.stdout


def test_a_bad_item_file_is_one_line_naming_line_and_field(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "options": ["a", "b"], "answer": "c"}\n', encoding="utf-8")
    result = _invoke(tmp_path, "eval", "run", "--model", "base", "--file", bad)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {bad}:1: field 'answer' 'c' is not one of the options"


def test_eval_run_on_a_snapshot_heldout_split(tmp_path, tiny_model_dir, one_thread) -> None:  # noqa: F811
    from finetune_support import make_snapshot, snapshot_rows

    heldout = snapshot_rows([("Which is a fruit?\nOptions:\n- apple\n- brick", "So the answer is apple.")], start=5)
    snap = make_snapshot(tmp_path / "snaps", heldout, heldout)
    result = _invoke(tmp_path, "eval", "run", "--model", tiny_model_dir, "--snapshot", snap, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == 1 and len(out["items"][0]["option_scores"]) == 2
    assert out["items"][0]["correct"] == (out["items"][0]["pred"] == 0)


def test_exactly_one_item_set_is_required(tmp_path, eval_file) -> None:
    for extra in ([], ["--file", eval_file, "--snapshot", tmp_path]):
        result = _invoke(tmp_path, "eval", "run", "--model", "base", *extra)
        assert result.exit_code == 1
        assert result.stderr.strip() == "error: give exactly one item set: --file EVAL.jsonl or --snapshot DIR"
