"""CoT target formats per mixture group: the same CoT rows in both CoT and direct format, with counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curation import cli
from curation.cot import tagging as cot_tagging
from curation.mixture import export as mixture_export
from curation.mixture import snapshot
from curation.mixture.plan import MixConfig


def _rows() -> list[dict]:
    cot = [
        {
            "instruction": f"What is {i} + {i}?",
            "output": f"{i} + {i} = {2 * i}. So the answer is {2 * i}.",
            "task": "math",
        }
        for i in range(1, 11)
    ]
    chat = [{"instruction": f"Say hello {i}.", "output": f"Hello {i}!", "task": "chat"} for i in range(10)]
    return [r | {"status": "approved"} for r in cot + chat]


@pytest.fixture
def store(make_store):
    s = make_store(_rows())
    cot_tagging.set_manual(s, True, author="t", ids=list(range(1, 11)))  # the ten math rows are CoT
    return s


def _by_format(train) -> dict[str, list[int]]:
    math = train[train["group"] == "math"]
    direct = math[~math["output"].str.contains("So the answer is")]
    assert (direct["output"] == (direct["id"] * 2).astype(str)).all()  # answer only: "2", "4", ...
    cot = math[math["output"].str.contains("So the answer is")]
    return {"cot": sorted(cot["id"]), "direct": sorted(direct["id"])}


def test_every_cot_row_in_both_formats(store, tmp_path: Path) -> None:
    config = MixConfig(
        name="both",
        group_by="task",
        weights={"math": 2, "chat": 1},
        total=30,
        cot_formats={"math": {"cot": 0.5, "direct": 0.5}},
    )
    folder = mixture_export.export(store, config, tmp_path)
    train, _, manifest = snapshot.load_snapshot(folder)
    assert len(train) == 30 and (train["group"] == "chat").sum() == 10
    assert _by_format(train) == {"cot": list(range(1, 11)), "direct": list(range(1, 11))}
    assert manifest["cot_format_takes"] == [
        {"group": "math", "format": "cot", "take": 10},
        {"group": "math", "format": "direct", "take": 10},
    ]
    assert manifest["cot_conversion"] == {
        "cot": {"converted": 10, "unchanged": 0},
        "direct": {"converted": 10, "unchanged": 0},
    }


def test_a_smaller_format_share_reuses_rows_of_the_larger(store, tmp_path: Path) -> None:
    config = MixConfig(name="split", group_by="task", cot_formats={"math": {"cot": 0.7, "direct": 0.3}}, seed=3)
    train, _, _ = snapshot.load_snapshot(mixture_export.export(store, config, tmp_path))
    found = _by_format(train)
    assert (len(found["cot"]), len(found["direct"])) == (7, 3)
    assert set(found["direct"]) <= set(found["cot"])


def test_think_format_and_per_group_defaults(store, tmp_path: Path) -> None:
    config = MixConfig(name="think", group_by="task", cot_format="direct", cot_formats={"math": "think"})
    train, _, _ = snapshot.load_snapshot(mixture_export.export(store, config, tmp_path))
    row = train[train["id"] == 3].iloc[0]
    assert row["output"] == "<think>\n3 + 3 = 6.\n</think>\n\n6"
    assert row["messages"] == [
        {"role": "user", "content": "What is 3 + 3?"},
        {"role": "assistant", "content": "6", "reasoning_content": "3 + 3 = 6."},
    ]
    jsonl = next(tmp_path.glob("think-*/train.jsonl")).read_text(encoding="utf-8")
    assert '"output":"<think>\\n3 + 3 = 6.\\n</think>\\n\\n6"' in jsonl  # byte-exact in the snapshot file
    assert set(train.loc[train["group"] == "chat", "output"]) == {f"Hello {i}!" for i in range(10)}


@pytest.mark.parametrize(
    ("cot_formats", "message"),
    [
        ({"math": "both"}, "unknown format(s) ['both']"),
        ({"math": {"cot": 0, "direct": 0}}, "shares must be >= 0, not all 0"),
        ({"math": {"cot": "half"}}, "must be a number"),
    ],
)
def test_bad_format_settings_say_the_rule(cot_formats: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        MixConfig.from_dict({"cot_formats": cot_formats})


def test_cli_preview_shows_rows_per_format(store, tmp_path: Path) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text("group_by: task\ncot_formats:\n  math: {cot: 0.5, direct: 0.5}\n")
    db = store.path
    store.close()
    result = CliRunner().invoke(cli.app, ["--db", str(db), "mix", "preview", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cot_formats"] == [
        {"group": "math", "format": "cot", "take": 5},
        {"group": "math", "format": "direct", "take": 5},
    ]
