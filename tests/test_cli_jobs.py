"""CLI: --help on every command, `jobs list` / `jobs cancel`, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from curation import cli
from curation.jobs import JobRunner
from curation.store import Store

runner = CliRunner()


def _command_paths(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command (typer vendors its own click, so groups are found by duck typing)."""
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if hasattr(command, "commands"):
            paths += _command_paths(command, (*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(cli.app))


def test_every_capability_has_a_command() -> None:
    top = {path[0] for path in COMMANDS}
    assert {"import", "export", "stats", "dedup", "cot", "mix", "template", "generate", "train", "jobs"} <= top


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_on_every_command(path: tuple[str, ...]) -> None:
    result = runner.invoke(cli.app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_jobs_list_and_cancel(tmp_path: Path) -> None:
    db = tmp_path / "jobs.duckdb"
    with Store(db) as store:
        JobRunner(store).run("demo", lambda ctx: {"ok": True})
    listed = runner.invoke(cli.app, ["--db", str(db), "jobs", "list"])
    assert listed.exit_code == 0, listed.output
    assert "demo" in listed.output and "succeeded" in listed.output and "100%" in listed.output
    done = runner.invoke(cli.app, ["--db", str(db), "jobs", "cancel", "1"])
    assert done.output.strip() == "job 1 had already finished"
    missing = runner.invoke(cli.app, ["--db", str(db), "jobs", "cancel", "99"])
    assert missing.exit_code == 1
    assert missing.output.strip() == "error: job 99 does not exist"
