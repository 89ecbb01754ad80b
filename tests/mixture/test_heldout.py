"""Held-out splits never leak an instruction (or task) into train; weights warn with the share a group really gets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from curation import cli
from curation.mixture import export as mixture_export
from curation.mixture import plan as mixture
from curation.mixture import snapshot
from curation.mixture.plan import MixConfig, allocate


def self_instruct_rows(n_tasks: int = 40, instances: int = 5) -> list[dict]:
    """Self-Instruct-shaped data: one instruction per task, several (input, output) instances each."""
    return [
        {
            "instruction": f"Task {t}: rewrite the sentence in the style number {t}.",
            "input": f"Sentence {k} of task {t}.",
            "output": f"Answer {k}.",
            "task": f"seed_task_{t}",
            "status": "approved",
        }
        for t in range(n_tasks)
        for k in range(instances)
    ]


@pytest.mark.parametrize("by", ["instruction", "task"])
def test_fraction_heldout_of_self_instruct_data_shares_no_instruction(make_store, tmp_path: Path, by: str) -> None:
    store = make_store(self_instruct_rows())
    config = MixConfig(name="si", heldout_fraction=0.2, heldout_by=by, seed=5)
    plan = mixture.preview(store, config)
    assert (
        plan.heldout_total == 40
        and plan.total == 160
        and plan.overlap
        == {
            "instructions": 0,
            "tasks": 0,
            "examples": [],
        }
    )
    train, heldout, manifest = snapshot.load_snapshot(mixture_export.export(store, config, tmp_path))
    assert heldout["instruction"].nunique() == 8 and len(heldout) == 40  # 8 whole instructions, all 5 instances
    assert set(train["instruction"]).isdisjoint(heldout["instruction"])  # old code: most held-out ones leaked
    assert set(train["task"]).isdisjoint(heldout["task"])
    assert manifest["heldout_overlap"] == {"by": by, "instructions": 0, "tasks": 0}
    other = mixture_export.build(store, MixConfig(name="si", heldout_fraction=0.2, heldout_by=by, seed=6))[1]
    assert set(other["id"]) != set(heldout["id"])  # the seed draws the held-out instructions


def test_instructions_that_differ_only_in_case_space_or_punctuation_stay_together(make_store) -> None:
    variants = ["Name three birds.", "name three birds", "  NAME  three birds!", "Name three birds?"]
    rows = [{"instruction": v, "output": str(i), "status": "approved"} for i, v in enumerate(variants)]
    rows += [{"instruction": f"Other question {i}", "output": "x", "status": "approved"} for i in range(16)]
    store = make_store(rows)
    for seed in range(8):
        train, held, manifest = mixture_export.build(store, MixConfig(heldout_fraction=0.3, seed=seed))
        birds = [set(part["id"]) & {1, 2, 3, 4} for part in (train, held)]
        assert {1, 2, 3, 4} in birds and manifest["heldout_overlap"]["instructions"] == 0


def test_cluster_heldout_that_leaks_an_instruction_is_flagged_and_refused(make_store, tmp_path: Path) -> None:
    rows = [
        {"instruction": "Answer the question.", "input": "2+2", "task_cluster": "math", "status": "approved"},
        {"instruction": "Answer the question", "input": "capital?", "task_cluster": "qa", "status": "approved"},
        {"instruction": "Add the numbers.", "input": "1 2", "task_cluster": "math", "status": "approved"},
    ]
    store = make_store(rows)
    config = MixConfig(heldout_clusters=["qa"])
    plan = mixture.preview(store, config)
    assert plan.overlap["instructions"] == 1 and plan.overlap["examples"] == ["answer the question"]
    assert any("1 instructions are both held out and in train" in w for w in plan.warnings)
    with pytest.raises(ValueError, match=r"1 instructions are both held out and in train.*allow_overlap"):
        mixture_export.export(store, config, tmp_path)
    allowed = MixConfig(heldout_clusters=["qa"], allow_overlap=True)
    manifest = snapshot.read_manifest(mixture_export.export(store, allowed, tmp_path))
    assert manifest["heldout_overlap"] == {"by": "task_cluster", "instructions": 1, "tasks": 0}


def test_mix_yaml_and_cli_take_heldout_by(make_store, tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    make_store(self_instruct_rows(10, 3), path=db).close()
    yaml = tmp_path / "mix.yaml"
    yaml.write_text("name: si\nheldout_fraction: 0.3\nheldout_by: task\n")
    result = CliRunner().invoke(cli.app, ["--db", str(db), "mix", "preview", "--config", str(yaml), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["heldout_overlap"] == {"instructions": 0, "tasks": 0, "examples": []}
    yaml.write_text("heldout_fraction: 0.3\nheldout_by: source\n")
    bad = CliRunner().invoke(cli.app, ["--db", str(db), "mix", "preview", "--config", str(yaml)])
    assert bad.exit_code == 1 and "heldout_by must be one of ('instruction', 'task')" in bad.output


def _counts(sizes: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([(g, False, False, n) for g, n in sizes.items()], columns=["group", "cot", "held", "count"])


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"A": 0.5, "B": 0.5}, ["weights cover only 2 of 3 groups; the others really get: 'C' 0.0%"]),
        ({"A": 0.2}, ["weights cover only 1 of 3 groups; the others really get: 'B' 40.0%, 'C' 40.0%"]),
        (
            {"A": 0, "B": 1, "C": 1},
            [
                "group 'A' has weight 0: it gets 0.0% of the mixture (100 eligible rows left out)",
                "weights sum to 2 and are divided by it; the groups really get: 'A' 0.0%, 'B' 50.0%, 'C' 50.0%",
            ],
        ),
        ({"A": 0.2, "B": 0.3, "C": 0.5}, []),
    ],
)
def test_weights_warn_with_the_share_a_group_really_gets(weights: dict, expected: list[str]) -> None:
    plan = allocate(_counts({"A": 100, "B": 100, "C": 100}), MixConfig(weights=weights))
    assert [w for w in plan.warnings if "weight" in w] == expected
