"""`signals list / run / show --json / apply`, `undo`, and the --signal filter options on the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from operation_support import ROWS
from typer.testing import CliRunner

from curation import cli
from curation.store import Store, examples

runner = CliRunner()


def _db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.duckdb"
    with Store(path) as store:
        examples.add_examples(store, pd.DataFrame(ROWS), examples.SourceInfo(name="s", format="test"))
    return path


def _invoke(db: Path, *args: str):
    result = runner.invoke(cli.app, ["--db", str(db), *args])
    return result


def test_run_show_apply_and_undo(tmp_path: Path) -> None:
    db = _db(tmp_path)
    listed = _invoke(db, "signals", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert "test-size" in {op["name"] for op in json.loads(listed.output)["operations"]}

    ran = _invoke(db, "signals", "run", "test-size", "--param", "max_chars=10")
    assert ran.exit_code == 0, ran.output
    assert "scored 4 of 4 rows as run 1" in ran.output
    assert "scored 0 of 0" in _invoke(db, "signals", "run", "test-size").output  # nothing new or edited

    shown = _invoke(db, "signals", "show", "test-size", "--variant", "chars", "--json")
    items = json.loads(shown.output)
    assert [(i["id"], i["score"], i["label"], i["version"], i["run_id"]) for i in items] == [
        (1, 0.04, "short", 1, 1),
        (2, 0.25, "long", 1, 1),
        (3, 0.24, "long", 1, 1),
        (4, 0.02, "short", 1, 1),
    ]
    assert items[1]["evidence"] == {"chars": 25, "version": 1}

    dry = _invoke(db, "signals", "apply", "test-size", "--dry-run")
    assert dry.exit_code == 0 and "would change rejected: 2; +tag:long: 2" in dry.output
    applied = _invoke(db, "signals", "apply", "test-size", "--id", "2")
    assert applied.exit_code == 0, applied.output
    assert "action 1 (operation): 1 rows changed: rejected: 1; +tag:long: 1" in applied.output
    with Store(db) as store:
        assert examples.get(store, 2)["status"] == "rejected" and examples.get(store, 3)["status"] == "pending"
    undone = _invoke(db, "undo", "1")
    assert undone.exit_code == 0, undone.output
    with Store(db) as store:
        assert examples.get(store, 2)["status"] == "pending"


def test_signal_filter_options_select_rows(tmp_path: Path) -> None:
    db = _db(tmp_path)
    _invoke(db, "signals", "run", "test-size")
    by_label = json.loads(_invoke(db, "signals", "show", "test-size", "--json").output)  # the only variant
    assert {i["id"] for i in by_label if i["label"] == "long"} == {2, 3}
    rerun = _invoke(db, "signals", "run", "test-size", "--rescore", "--signal-label", "test-size=long", "--json")
    assert json.loads(rerun.output)["scored"] == 2
    ranged = _invoke(db, "signals", "run", "test-size", "--rescore", "--signal", "test-size@chars::0.03", "--json")
    assert json.loads(ranged.output)["scored"] == 1  # row 4 (0.02) only
    out = tmp_path / "long.jsonl"
    exported = _invoke(
        db, "export", "--status", "all", "--format", "messages", "--out", str(out), "--signal", "test-size:0.2:"
    )
    assert exported.exit_code == 0, exported.output
    assert len(out.read_text().splitlines()) == 2


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    db = _db(tmp_path)
    bad = _invoke(db, "signals", "run", "test-size", "--signal", "test-size:0.5")
    assert bad.exit_code != 0 and "NAME[@VARIANT]:MIN:MAX" in bad.output
    unknown = _invoke(db, "signals", "run", "nope")
    assert unknown.exit_code == 1 and "no operation 'nope'" in unknown.output
    param = _invoke(db, "signals", "run", "test-size", "--param", "max=3")
    assert param.exit_code == 1 and "unknown parameter(s) ['max']" in param.output
