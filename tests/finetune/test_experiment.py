"""Experiments: two snapshots, identical settings and token budget, one shared eval set; compared side by side."""

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
from typer.testing import CliRunner

from curation.cli import app
from curation.finetune import compare, runs
from curation.finetune.config import load_config, save_config

pytestmark = pytest.mark.usefixtures("one_thread")

EXTRA = [("Two plus two?", "Four."), ("Opposite of hot?", "Cold."), ("Colour of the sky?", "Blue.")]


def test_experiment_trains_each_snapshot_on_the_same_budget_and_eval_set(
    tmp_path: Path,
    tiny_model_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("INSTRUCT_CURATOR_RUNS_DIR", str(tmp_path / "runs"))
    raw = make_snapshot(tmp_path / "s", snapshot_rows(TAUGHT * 3 + EXTRA[:1]), snapshot_rows(EXTRA, start=50), "raw")
    curated = make_snapshot(tmp_path / "s", snapshot_rows(TAUGHT + EXTRA[:1], source="clean"), name="curated")
    cfg = save_config(tiny_config("", tiny_model_dir, batch_size=1, eval_interval=2), tmp_path / "T.yaml")

    def cli(*args: object):
        return CliRunner().invoke(app, ["--db", str(tmp_path / "cli.duckdb"), *map(str, args)])

    args = ("train", "experiment", "--snapshot", raw, "--snapshot", curated, "--config", cfg, "--name", "cur-vs-raw")
    assert "--token-budget N" in cli(*args).output  # a budget is required: nothing is created without one
    assert not (tmp_path / "runs").exists()
    result = cli(*args, "--token-budget", 300)
    assert result.exit_code == 0, result.output

    listed = [r for r in runs.list_runs() if r["experiment"] == "cur-vs-raw"]
    assert sorted(r["snapshot"] for r in listed) == ["curated", "raw"]
    assert {r["status"] for r in listed} == {"succeeded"}
    configs = [load_config(Path(r["path"]) / runs.CONFIG).to_dict() for r in listed]
    assert {c.pop("snapshot") for c in configs} == {str(raw), str(curated)}
    assert configs[0] == configs[1] and configs[0]["eval_snapshot"] == str(raw)  # identical settings, shared eval
    for row in listed:
        steps = [r for r in runs.read_progress(Path(row["path"])) if r["type"] == "step"]
        tokens = sum(r["tokens"] for r in steps)
        assert 300 <= tokens < 300 + steps[-1]["tokens"]  # the budget, to the step
    first = {r["first_eval_loss"] for r in listed}
    assert len(first) == 1  # step 0: the same base model on the same eval set

    frame = runs.experiment_losses([Path(r["path"]) for r in listed])
    assert set(frame["snapshot"]) == {"raw", "curated"} and (frame["step"] == 0).sum() == 2
    table = compare.experiment_slices([Path(r["path"]) for r in listed])
    all_rows = table[table["slice"] == "all"]
    assert sorted(all_rows["snapshot"]) == ["curated", "raw"] and set(all_rows["examples"]) == {3}
    assert all_rows["base_loss"].nunique() == 1

    shown = cli("train", "compare-experiment", "cur-vs-raw", "--n", 1, "--max-new-tokens", 4)
    assert shown.exit_code == 0, shown.output
    assert "tuned: raw" in shown.output and "tuned: curated" in shown.output and "Two plus two?" in shown.output
