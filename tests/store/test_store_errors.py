"""Store errors a user can act on: a folder, a non-DuckDB file, a missing database read-only, a full disk."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from curation import cli
from curation.store import Store, StoreAccessError, examples


def cli_error(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli.app, ["--db", str(db), *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    return lines[0]


def test_db_that_is_a_folder(tmp_path: Path) -> None:
    for args in (["stats"], ["export", "--status", "all"], ["jobs", "list"]):
        line = cli_error(tmp_path, *args)
        assert (
            line
            == f"error: database {tmp_path} is a folder; pass --db with a file path such as {tmp_path}/curator.duckdb"
        )


def test_db_that_is_not_duckdb(tmp_path: Path) -> None:
    text = tmp_path / "notes.duckdb"
    text.write_text("just some notes, not a database\n" * 20)
    line = cli_error(text, "stats")
    assert line == f"error: {text} is not a DuckDB database file; pass --db with a .duckdb file or a new path"
    assert text.read_text().startswith("just some notes")


def test_read_only_commands_do_not_create_or_change_the_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.duckdb"
    line = cli_error(missing, "stats")
    assert line == (f"error: database {missing} does not exist; import a file first, or pass --db with an existing one")
    assert not missing.exists()
    db = tmp_path / "x.duckdb"
    with Store(db) as store:
        examples.add_examples(store, pd.DataFrame([{"instruction": "a"}]), examples.SourceInfo("s", "test"))
    before = db.read_bytes()
    assert CliRunner().invoke(cli.app, ["--db", str(db), "stats", "--json"]).exit_code == 0
    assert db.read_bytes() == before


class _FullDiskCursor:
    """A cursor whose COMMIT fails like DuckDB's on a full disk (the following ROLLBACK then fails too)."""

    def __init__(self, real: duckdb.DuckDBPyConnection) -> None:
        self.real, self.failed = real, False

    def execute(self, sql: str, params=None):
        if sql == "COMMIT":
            self.real.execute("ROLLBACK")
            self.failed = True
            raise duckdb.TransactionException(
                'TransactionContext Error: Failed to commit: Could not write file "x.wal": No space left on device'
            )
        if sql == "ROLLBACK" and self.failed:
            raise duckdb.TransactionException("TransactionContext Error: cannot rollback - no transaction is active")
        return self.real.execute(sql, params or [])

    def __getattr__(self, name: str):
        return getattr(self.real, name)


def test_full_disk_on_commit_names_the_real_cause(store: Store) -> None:
    store._local.cursor = _FullDiskCursor(store.cursor())
    with pytest.raises(StoreAccessError) as err:
        examples.add_examples(store, pd.DataFrame([{"instruction": "a"}]), examples.SourceInfo("s", "test"))
    assert str(err.value) == (
        f"cannot write to database {store.path}: the disk is full (No space left on device); "
        "free some space and try again"
    )
    assert examples.count(store) == 0


@contextlib.contextmanager
def small_tmpfs(folder: Path, options: str = "size=2m"):
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_full_disk_on_a_real_small_tmpfs(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "tiny") as folder:
        store = Store(folder / "db.duckdb")
        try:
            rows = pd.DataFrame([{"instruction": f"{i} " + "x" * 2000} for i in range(3000)])
            with pytest.raises(StoreAccessError, match=r"the disk is full \(No space left on device\)"):
                examples.add_examples(store, rows, examples.SourceInfo("s", "test"))
        finally:
            with contextlib.suppress(Exception):
                store.close()


def test_read_only_file_system(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "ro", "size=1m,ro") as folder:
        line = cli_error(folder / "db.duckdb", "import", str(_alpaca(tmp_path)))
    assert line.startswith(f"error: cannot open database {folder}/db.duckdb: the file system is read-only")


def test_permission_denied_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: str, read_only: bool = False):
        raise duckdb.IOException(f'IO Error: Cannot open file "{path}": Permission denied')

    monkeypatch.setattr(duckdb, "connect", denied)
    with pytest.raises(StoreAccessError) as err:
        Store(tmp_path / "db.duckdb")
    assert str(err.value) == (
        f"cannot open database {tmp_path}/db.duckdb: permission denied; "
        "check the file's and its folder's permissions, or pass --db"
    )


def _alpaca(folder: Path) -> Path:
    path = folder / "a.json"
    path.write_text('[{"instruction": "a", "output": "b"}]')
    return path
