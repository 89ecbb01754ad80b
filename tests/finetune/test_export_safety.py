"""LLaMA-Factory and merged-model exports never write over existing files unless asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finetune_support import TAUGHT, make_snapshot, snapshot_rows
from typer.testing import CliRunner

from curation import files
from curation.cli import app
from curation.finetune import export


def test_llamafactory_export_keeps_other_content_unless_forced(tmp_path: Path) -> None:
    snap = make_snapshot(tmp_path / "snaps", snapshot_rows(TAUGHT), snapshot_rows(TAUGHT[:1], start=10), name="mix")
    out = tmp_path / "lf"
    export.export_llamafactory(snap, out)
    export.export_llamafactory(snap, out)  # the same content again: nothing is lost, so no question is asked
    (out / "mix.json").write_text("[]  my own edits")
    with pytest.raises(files.FileWriteError, match=r"mix\.json already exists"):
        export.export_llamafactory(snap, out)
    assert (out / "mix.json").read_text() == "[]  my own edits"
    args = ["--db", str(tmp_path / "x.duckdb"), "train", "export-llamafactory", str(snap), "--out", str(out)]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "mix.json already exists" in refused.stderr
    forced = CliRunner().invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "mix.json").read_text())[0]["output"] == "Pineapple."


def test_a_folder_export_that_fails_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "models" / "run-1"
    with pytest.raises(RuntimeError), files.new_folder(target) as temp:
        (temp / "config.json").write_text("{}")
        raise RuntimeError("save failed")
    assert list((tmp_path / "models").iterdir()) == []
    with files.new_folder(target) as temp:
        (temp / "config.json").write_text("{}")
    assert (target / "config.json").exists()
    with pytest.raises(files.FileWriteError, match="already exists"), files.new_folder(target):
        pass
