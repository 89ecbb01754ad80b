"""CLI: import, export and stats through typer's CliRunner; bad arguments; the DuckDB lock message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curation import cli
from curation.store import Store, examples

runner = CliRunner()
ALPACA = [
    {"instruction": "Add 1 and 2.", "output": "3", "tags": ["math"]},
    {"instruction": "Name a colour.", "output": "Blue"},
    {"instruction": "Add 2 and 2.", "output": "4", "tags": ["math"]},
]


def invoke(db: Path, *args: str):
    return runner.invoke(cli.app, ["--db", str(db), *args])


@pytest.fixture
def alpaca_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.json"
    path.write_text(json.dumps(ALPACA))
    return path


def test_import_then_stats(tmp_path: Path, alpaca_file: Path) -> None:
    db = tmp_path / "cli.duckdb"
    result = invoke(db, "import", str(alpaca_file), "--source", "mine")
    assert result.exit_code == 0, result.output
    assert "imported 3 rows from small.json as source #1" in result.output
    stats = invoke(db, "stats", "--json")
    data = json.loads(stats.stdout)
    assert data["total"] == 3
    assert data["source"] == [{"value": "mine", "count": 3}]
    assert data["tag"] == [{"value": "math", "count": 2}]
    text = invoke(db, "stats")
    assert "total: 3 examples" in text.output and "pending" in text.output


def test_export_writes_file_and_manifest(tmp_path: Path, alpaca_file: Path) -> None:
    db = tmp_path / "cli.duckdb"
    invoke(db, "import", str(alpaca_file))
    out = tmp_path / "out" / "math.jsonl"
    result = invoke(db, "export", "--status", "all", "--tag", "math", "--format", "messages", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"exported 2 rows (tag: math) to {out}" in result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["messages"][1]["content"] for line in lines] == ["3", "4"]
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    assert (manifest["rows"], manifest["format"], manifest["filter"]) == (2, "messages", {"tags": ["math"]})
    search = invoke(db, "export", "--status", "all", "--search", "colour", "--out", str(tmp_path / "c.json"))
    assert search.exit_code == 0 and json.loads((tmp_path / "c.json").read_text())[0]["output"] == "Blue"


def test_export_defaults_to_approved_rows(tmp_path: Path, alpaca_file: Path) -> None:
    db = tmp_path / "cli.duckdb"
    invoke(db, "import", str(alpaca_file))
    result = invoke(db, "export", "--out", str(tmp_path / "a.json"))
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no rows match the filter (status: approved); nothing to export"
    assert not (tmp_path / "a.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["export", "--format", "xml"],
            "Invalid value for --format: must be one of alpaca, messages, sharegpt, parquet",
        ),
        (["export", "--status", "done"], "Invalid value for --status: must be among pending, approved"),
        (["export", "--origin", "web"], "Invalid value for --origin"),
        (["import", "FILE", "--format", "yaml"], "Invalid value for --format: must be one of alpaca"),
        (["import", "FILE", "--mapping", "{not json"], "Invalid value for --mapping: not valid JSON"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(tmp_path: Path, alpaca_file: Path, args, message) -> None:
    args = [str(alpaca_file) if a == "FILE" else a for a in args]
    result = invoke(tmp_path / "cli.duckdb", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())


def test_bad_file_is_one_error_line_and_nothing_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "ok"}\n{"output": "no instruction"}\n')
    db = tmp_path / "cli.duckdb"
    result = invoke(db, "import", str(bad))
    assert result.exit_code == 1
    assert result.stderr == "error: bad.jsonl line 2 (row 1): missing required field 'instruction'\n"
    store = Store(db)
    assert examples.count(store) == 0
    store.close()


def test_locked_database_gives_one_line_message(tmp_path: Path, alpaca_file: Path) -> None:
    db = tmp_path / "locked.duckdb"
    Store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        for args in (["stats"], ["import", str(alpaca_file)], ["export", "--status", "all"]):
            result = invoke(db, *args)
            assert result.exit_code == 1
            lines = result.stderr.splitlines()
            assert lines == [
                f"error: database {db} is locked by process {holder.pid} (probably the running app); "
                "stop it, or pass --db with another file"
            ]
            assert "Traceback" not in result.output
    finally:
        holder.kill()
        holder.wait()


GPTEACHER = Path(__file__).resolve().parents[1] / "fixtures" / "gpteacher_roleplay.json"


def test_import_a_gpteacher_file_with_a_field_mapping(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    refused = invoke(db, "import", str(GPTEACHER))
    assert refused.exit_code == 1
    assert "missing required field 'output' (an instruction-only file: allow rows without an output " in refused.output
    assert "(--allow-missing-output))" in refused.output  # the CLI names its flag; the page never does
    result = invoke(db, "import", str(GPTEACHER), "--mapping", '{"instruction": "instruction", "output": "response"}')
    assert result.exit_code == 0, result.output
    rows = examples.fetch(Store(db), columns=("input", "output", "meta"))
    assert rows["output"].iloc[0] == "All hands on deck! Reef the mainsail and secure the hatches!"
    assert json.loads(rows["meta"].iloc[1]) == {"input": "The traveller is soaked from the rain."}  # unmapped: meta


def test_import_with_output_unmapped_needs_the_flag(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    sheet = tmp_path / "q.csv"
    sheet.write_text("question\nWhat?\n")
    refused = invoke(db, "import", str(sheet), "--mapping", '{"instruction": "question"}')
    assert refused.exit_code == 1 and "(--allow-missing-output)" in refused.output
    done = invoke(db, "import", str(sheet), "--mapping", '{"instruction": "question"}', "--allow-missing-output")
    assert done.exit_code == 0, done.output
