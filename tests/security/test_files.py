"""File permissions and team mode: a new database is 0600 in 0700 folders, and a database once opened with a users
file refuses to open without one (unless an admin releases it)."""

from __future__ import annotations

import stat
from pathlib import Path

import bcrypt
import pytest
import yaml
from typer.testing import CliRunner

from curation import cli
from curation.store import Store, TeamDatabaseError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_users(path: Path) -> Path:
    digest = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4)).decode()
    users = {"adm": {"role": "admin", "password_hash": digest}, "cur": {"role": "curator", "password_hash": digest}}
    path.write_text(yaml.safe_dump({"users": users}))
    path.chmod(0o600)
    return path


def test_a_new_database_is_private_to_its_owner(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("INSTRUCT_CURATOR_USERS_FILE", raising=False)
    db = tmp_path / "new" / "deeper" / "curator.duckdb"
    Store(db).close()
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
    loose = tmp_path / "loose.duckdb"
    Store(loose).close()
    loose.chmod(0o644)
    Store(loose).close()  # an existing file keeps the mode its owner chose
    assert mode(loose) == 0o644


def test_a_team_database_does_not_open_without_a_users_file(tmp_path, monkeypatch) -> None:
    db = tmp_path / "team.duckdb"
    users = write_users(tmp_path / "users.yaml")
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(users))
    Store(db).close()
    monkeypatch.delenv("INSTRUCT_CURATOR_USERS_FILE")
    with pytest.raises(TeamDatabaseError, match=r"team.duckdb is a team database: set INSTRUCT_CURATOR_USERS_FILE"):
        Store(db)
    with pytest.raises(TeamDatabaseError):
        Store(db, read_only=True)
    result = CliRunner().invoke(cli.app, ["--db", str(db), "stats"])
    assert result.exit_code == 1 and "is a team database" in result.output


def test_only_an_admin_releases_a_team_database(tmp_path, monkeypatch) -> None:
    db = tmp_path / "team.duckdb"
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(write_users(tmp_path / "users.yaml")))
    runner = CliRunner()
    refused = runner.invoke(cli.app, ["--db", str(db), "--user", "cur", "users", "leave-team", "--yes"])
    assert refused.exit_code == 1 and "needs the admin role" in refused.output
    done = runner.invoke(cli.app, ["--db", str(db), "--user", "adm", "users", "leave-team", "--yes"])
    assert done.exit_code == 0, done.output
    monkeypatch.delenv("INSTRUCT_CURATOR_USERS_FILE")
    Store(db).close()
