"""CLI: `cot tag/set/show` and `mix preview/export/list` on a temp database, asserting output and store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from curation import cli
from curation.mixture import snapshot
from curation.store import Store, examples

runner = CliRunner()
COT = "Tom has 3 * 4 = 12 apples. He eats 2, so 12 - 2 = 10 remain. So the answer is 10."


def invoke(db: Path, *args: str):
    return runner.invoke(cli.app, ["--db", str(db), *args])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.duckdb"
    store = Store(path)
    rows = [
        {
            "instruction": f"Question {i}?",
            "output": COT if i % 2 else f"Plain answer {i}.",
            "task": "math" if i % 2 else "chat",
            "task_cluster": "arith" if i % 2 else "dialog",
            "status": "approved",
        }
        for i in range(20)
    ]
    examples.add_examples(store, pd.DataFrame(rows), examples.SourceInfo(name="mine", format="test"))
    store.close()
    return path


def _tagged(db: Path) -> dict[int, str]:
    store = Store(db)
    try:
        return dict(store.query_rows("SELECT example_id, source FROM example_tags WHERE tag = 'cot' ORDER BY 1"))
    finally:
        store.close()


def test_cot_tag_set_and_show(db: Path) -> None:
    result = invoke(db, "cot", "tag", "--threshold", "0.5")
    assert result.exit_code == 0, result.output
    assert (
        "scored 20 rows; 10 rows auto-tagged cot at threshold 0.5; 0 rows keep their manual decision" in result.output
    )
    assert _tagged(db) == {i: "auto" for i in range(2, 21, 2)}  # ids 2, 4, ... hold the odd (CoT) rows
    assert invoke(db, "cot", "set", "2", "--no").exit_code == 0
    assert invoke(db, "cot", "set", "1").exit_code == 0
    again = invoke(db, "cot", "tag", "--rescore", "--json")
    assert json.loads(again.stdout)["protected"] == 2
    tags = _tagged(db)
    assert 2 not in tags and tags[1] == "manual" and tags[4] == "auto"
    show = invoke(db, "cot", "show", "--view", "disagree", "--json")
    data = json.loads(show.stdout)
    assert [r["id"] for r in data["rows"]] == [2, 1] and data["summary"]["manual"] == 2
    assert "answer_marker" in data["rows"][0]["signals"]
    table = invoke(db, "cot", "show")
    assert table.exit_code == 0 and "manual_cot_missed" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cot", "tag", "--threshold", "1.5"], "--threshold"),
        (["cot", "tag", "--status", "done"], "--status"),
        (["cot", "set"], "give example ids"),
        (["cot", "show", "--view", "odd"], "--view"),
    ],
)
def test_cot_bad_arguments_name_the_argument(db: Path, args: list[str], message: str) -> None:
    result = invoke(db, *args)
    assert result.exit_code == 2 and message in result.output


def test_cot_set_unknown_id_is_a_one_line_error(db: Path) -> None:
    result = invoke(db, "cot", "set", "999")
    assert result.exit_code == 1 and "error: no example with id 999" in result.output


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mix.yaml"
    path.write_text(text)
    return path


def test_mix_preview_and_export(db: Path, tmp_path: Path) -> None:
    invoke(db, "cot", "tag")
    config = _config(tmp_path, "name: small\ngroup_by: task\ncap: 5\ncot_share: 0.3\nheldout_fraction: 0.2\nseed: 1\n")
    preview = invoke(db, "mix", "preview", "--config", str(config), "--json")
    assert preview.exit_code == 0, preview.output
    data = json.loads(preview.stdout)
    assert (data["total"], data["heldout"], data["cot_share"]) == (10, 4, 0.3)
    # 4 of the 20 distinct instructions are held out (whole instructions, drawn by seed): here all from chat
    assert [(g["group"], g["before"], g["heldout"], g["after"]) for g in data["groups"]] == [
        ("chat", 6, 4, 7),
        ("math", 10, 0, 3),
    ]
    text = invoke(db, "mix", "preview", "--config", str(config))
    assert "train rows: 10  held-out rows: 4  CoT share: 30.0%" in text.output
    out = tmp_path / "snaps"
    exported = invoke(db, "mix", "export", "--config", str(config), "--out", str(out))
    assert exported.exit_code == 0, exported.output
    folder = Path(exported.output.split("snapshot ", 1)[1].splitlines()[0])
    train, heldout, manifest = snapshot.load_snapshot(folder)
    assert (len(train), len(heldout), int(train["cot"].sum())) == (10, 4, 3)
    assert manifest["heldout_overlap"] == {"by": "instruction", "instructions": 0, "tasks": 1}
    assert manifest["content_hash"] in exported.output
    listed = invoke(db, "mix", "list", "--root", str(out), "--json")
    assert [m["path"] for m in json.loads(listed.stdout)] == [str(folder)]


def test_mix_bad_config_is_a_one_line_error(db: Path, tmp_path: Path) -> None:
    result = invoke(db, "mix", "preview", "--config", str(_config(tmp_path, "group_by: colour\n")))
    assert result.exit_code == 1 and "error: group_by must be one of" in result.output
    missing = invoke(db, "mix", "preview", "--config", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "--config" in missing.output
