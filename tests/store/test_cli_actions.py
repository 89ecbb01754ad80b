"""CLI: `review`, `actions list`, `undo` (with the conflict report, --skip-changed, --force) and `redo`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from curation import cli
from curation.store import Store, examples

runner = CliRunner()


def invoke(db: Path, *args: str):
    return runner.invoke(cli.app, ["--db", str(db), *args])


def make_db(tmp_path: Path) -> Path:
    db = tmp_path / "cli.duckdb"
    with Store(db) as store:
        rows = pd.DataFrame({"instruction": [f"row {i}" for i in range(1, 8)]})
        examples.add_examples(store, rows, examples.SourceInfo("mine", "test"))
    return db


def statuses(db: Path) -> dict[int, tuple[str, str | None]]:
    with Store(db) as store:
        return {r[0]: (r[1], r[2]) for r in store.query_rows("SELECT id, status, status_reason FROM examples")}


def test_review_by_filter_then_undo_reports_a_later_rejection(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    bulk = invoke(db, "review", "approve", "--source", "mine")
    assert bulk.exit_code == 0, bulk.output
    assert "action 1 (bulk-review): filter source: mine: approved #1, #2, #3, #4, #5, … (7 rows)" in bulk.output
    one = invoke(db, "review", "reject", "--ids", "3", "--reason", "off topic")
    assert one.exit_code == 0 and "rejected #3" in one.output
    refused = invoke(db, "undo", "1")
    assert refused.exit_code == 1
    assert "1 of 7 rows were changed since by #2 review by tester" in refused.output
    assert "`undo 2` first" in refused.output and "Traceback" not in refused.output
    assert set(statuses(db).values()) == {("approved", None), ("rejected", "off topic")}
    done = invoke(db, "undo", "1", "--skip-changed")
    assert done.exit_code == 0 and "6 rows restored" in done.output and "#3" in done.output
    assert statuses(db)[3] == ("rejected", "off topic") and statuses(db)[1] == ("pending", None)
    again = invoke(db, "undo", "1")
    assert again.exit_code == 1 and "already undone by action 3" in again.output


def test_redo_and_the_actions_list(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    invoke(db, "review", "reject", "--ids", "1", "--ids", "2", "--reason", "bad")
    assert invoke(db, "undo", "1").exit_code == 0
    redo = invoke(db, "redo", "1")
    assert redo.exit_code == 0 and "redid action 1 as action 3" in redo.output
    assert statuses(db)[1] == ("rejected", "bad")
    listed = json.loads(invoke(db, "actions", "list", "--json").output)
    assert [(a["id"], a["kind"], a["state"]) for a in listed] == [
        (3, "redo", "in effect"),
        (2, "undo", "undone"),
        (1, "review", "in effect"),
    ]
    assert listed[2]["what"] == "rejected #1, #2 (2 rows)"
    plain = invoke(db, "actions")
    assert plain.exit_code == 0 and "redo #1 (review)" in plain.output


def test_review_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    assert "must be one of approve, reject, pending" in invoke(db, "review", "accept", "--all").output
    assert "give --ids, filter options or --all" in invoke(db, "review", "approve").output
    missing = invoke(db, "review", "approve", "--ids", "99")
    assert missing.exit_code == 1 and "no example with id 99" in missing.output
    assert invoke(db, "undo", "42").output.strip() == "error: action 42 does not exist"
