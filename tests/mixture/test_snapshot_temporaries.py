"""Snapshot exports leave no `.tmp-*` folders: removed on failure, and those of dead processes at the next start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from curation import files
from curation.mixture import snapshot

ROWS = pd.DataFrame(
    {
        "id": [1, 2],
        "revision": [0, 0],
        "instruction": ["a", "b"],
        "input": ["", ""],
        "output": ["x", "y"],
        "messages": [None, None],
        "source": ["s", "s"],
        "origin": ["imported", "imported"],
        "task": [None, None],
        "task_cluster": [None, None],
        "format": [None, None],
        "cot": [False, False],
        "group": ["g", "g"],
    }
)
MANIFEST = {"name": "mix", "rule": "proportional", "params": {}, "seed": 1, "groups": []}


def test_an_interrupted_export_leaves_no_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot, "_parquet", full_disk)
    with pytest.raises(OSError, match="No space left"):
        snapshot.write_snapshot(ROWS, ROWS.iloc[:0], MANIFEST, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_dead_processes_are_removed_at_the_next_export(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".tmp-mix-p{dead.stdout.strip()}-abc"
    (stale / "train.jsonl").parent.mkdir(parents=True)
    (stale / "train.jsonl").write_text("half")
    live = tmp_path / f".tmp-other-p{os.getpid()}-def"  # another export of this process, still writing
    live.mkdir()
    unrelated = tmp_path / ".tmp-notes"  # not ours: no pid tag
    unrelated.mkdir()
    folder = snapshot.write_snapshot(ROWS, ROWS.iloc[:0], MANIFEST, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([folder.name, live.name, unrelated.name])
    assert files.remove_stale_temporaries(tmp_path) == []
