"""Snapshots: deterministic bytes, content hash tracks content, immutable folders, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curation.mixture import snapshot


def _rows(n: int = 3, text: str = "out", group: str = "g") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": list(range(1, n + 1)),
            "revision": [0, 7, 0][:n] + [0] * max(0, n - 3),
            "instruction": [f"instr {i} é" for i in range(n)],
            "input": [""] * n,
            "output": [f"{text} {i}" for i in range(n)],
            "messages": [None, json.dumps([{"role": "user", "content": "hi"}]), None][:n] + [None] * max(0, n - 3),
            "source": ["src"] * n,
            "origin": ["imported"] * n,
            "task": ["t"] * n,
            "task_cluster": [None] * n,
            "format": ["cot"] * n,
            "cot": [True, False, True][:n] + [False] * max(0, n - 3),
            "group": [group] * n,
        }
    )


def _manifest(**extra) -> dict:
    return {"name": "mix", "rule": "proportional", "params": {"cap": 2}, "seed": 1, "groups": []} | extra


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_write_creates_every_file_and_the_hash_covers_both_jsonl(tmp_path: Path) -> None:
    folder = snapshot.write_snapshot(_rows(), _rows(1, "held"), _manifest(), tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(snapshot.FILES)
    manifest = json.loads((folder / "manifest.json").read_text())
    import hashlib

    digests = [hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in ("train.jsonl", "heldout.jsonl")]
    expected = hashlib.sha256(f"train.jsonl {digests[0]}\nheldout.jsonl {digests[1]}\n".encode())
    assert manifest["content_hash"] == expected.hexdigest()
    assert folder.name == f"mix-{expected.hexdigest()[:12]}"
    assert manifest["counts"] == {"train": 3, "heldout": 1}
    assert manifest["params"] == {"cap": 2} and manifest["seed"] == 1
    first = json.loads((folder / "train.jsonl").read_text().splitlines()[1])
    assert first == {
        "id": 2,
        "revision": 7,
        "instruction": "instr 1 é",
        "input": "",
        "output": "out 1",
        "messages": [{"role": "user", "content": "hi"}],
        "source": "src",
        "origin": "imported",
        "task": "t",
        "task_cluster": None,
        "format": "cot",
        "cot": False,
        "group": "g",
    }
    assert "é" in (folder / "train.jsonl").read_text(encoding="utf-8")  # ensure_ascii=False
    table = pq.read_table(folder / "train.parquet")
    assert table.column_names == list(snapshot.ROW_FIELDS)
    assert table.column("messages").to_pylist()[1] == [
        {"role": "user", "content": "hi", "reasoning_content": None, "tool_calls": None, "tool_call_id": None}
    ]


def test_jsonl_lines_are_canonical_json_for_awkward_text(tmp_path: Path) -> None:
    rows = _rows(3)
    rows["output"] = ['quote " backslash \\ tab \t', "newline\n\u2028 ünïcödé 😀", "\x00\x1f control"]
    rows["task"] = [None, "t", None]
    folder = snapshot.write_snapshot(rows, pd.DataFrame(), _manifest(), tmp_path)
    lines = (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()  # \u2028 stays escaped: 3 lines
    canonical = [snapshot.dumps(json.loads(line)).replace("\u2028", "\\u2028") for line in lines]
    assert canonical == lines
    assert [json.loads(line)["output"] for line in lines] == rows["output"].tolist()


def test_same_inputs_give_identical_bytes_in_another_root(tmp_path: Path) -> None:
    a = snapshot.write_snapshot(_rows(), _rows(1, "held"), _manifest(), tmp_path / "a")
    b = snapshot.write_snapshot(_rows(), _rows(1, "held"), _manifest(), tmp_path / "b")
    assert a.name == b.name
    assert _folder_bytes(a) == _folder_bytes(b)


def test_hash_changes_iff_content_changes(tmp_path: Path) -> None:
    base = snapshot.write_snapshot(_rows(), pd.DataFrame(), _manifest(), tmp_path)
    other_params = snapshot.write_snapshot(_rows(), pd.DataFrame(), _manifest(params={"cap": 9}), tmp_path)
    changed = snapshot.write_snapshot(_rows(text="edited"), pd.DataFrame(), _manifest(), tmp_path)
    hashes = [json.loads((f / "manifest.json").read_text())["content_hash"] for f in (base, changed)]
    assert len(set(hashes)) == 2
    assert other_params == base  # same rows: the existing folder is returned, not rewritten
    assert json.loads((base / "manifest.json").read_text())["params"] == {"cap": 2}


def test_moving_a_row_to_heldout_changes_the_hash(tmp_path: Path) -> None:
    whole = snapshot.write_snapshot(_rows(), pd.DataFrame(), _manifest(), tmp_path)
    moved = snapshot.write_snapshot(_rows(2), _rows(3).iloc[2:], _manifest(), tmp_path)
    assert moved != whole
    assert json.loads((moved / "manifest.json").read_text())["counts"] == {"train": 2, "heldout": 1}
    assert json.loads((whole / "manifest.json").read_text())["counts"] == {"train": 3, "heldout": 0}


def test_existing_folder_with_other_content_is_never_overwritten(tmp_path: Path) -> None:
    folder = snapshot.write_snapshot(_rows(), pd.DataFrame(), _manifest(), tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["content_hash"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="never overwritten"):
        snapshot.write_snapshot(_rows(), pd.DataFrame(), _manifest(), tmp_path)


def test_load_round_trips_and_detects_tampering(tmp_path: Path) -> None:
    folder = snapshot.write_snapshot(_rows(), pd.DataFrame(), _manifest(), tmp_path)
    train, heldout, manifest = snapshot.load_snapshot(folder)
    assert train["id"].tolist() == [1, 2, 3] and train["cot"].tolist() == [True, False, True]
    assert heldout.empty and list(heldout.columns) == list(snapshot.ROW_FIELDS)
    assert manifest["counts"]["heldout"] == 0 and (folder / "heldout.jsonl").read_bytes() == b""
    (folder / "train.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="content_hash"):
        snapshot.load_snapshot(folder)


def test_list_newest_first_and_bad_inputs(tmp_path: Path) -> None:
    import os

    old = snapshot.write_snapshot(_rows(), pd.DataFrame(), _manifest(name="old"), tmp_path)
    new = snapshot.write_snapshot(_rows(2), pd.DataFrame(), _manifest(name="new"), tmp_path)
    os.utime(old / "manifest.json", (1_000_000, 1_000_000))
    listed = snapshot.list_snapshots(tmp_path)
    assert [m["path"] for m in listed] == [str(new), str(old)]
    assert listed[1]["created_at"].startswith("1970-01-12")
    assert snapshot.list_snapshots(tmp_path / "missing") == []
    with pytest.raises(ValueError, match="snapshot name"):
        snapshot.write_snapshot(_rows(), pd.DataFrame(), _manifest(name="../evil"), tmp_path)
    with pytest.raises(ValueError, match="group"):
        snapshot.write_snapshot(_rows().drop(columns="group"), pd.DataFrame(), _manifest(), tmp_path)


def test_a_tool_call_conversation_keeps_its_calls_and_result_ids(tmp_path: Path) -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": [1, {"y": "é"}]}'}}]
    turns = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
        {"role": "assistant", "content": "a"},
    ]
    rows = _rows(1)
    rows["messages"] = [json.dumps(turns)]
    folder = snapshot.write_snapshot(rows, _rows(0), _manifest(), tmp_path)
    train, _, _ = snapshot.load_snapshot(folder)
    stored = train["messages"].iloc[0]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert json.loads(stored[1]["tool_calls"]) == calls
    assert stored[2] == {"role": "tool", "content": "r", "tool_call_id": "c1"}
    table = pq.read_table(folder / "train.parquet")
    assert table.column("messages").to_pylist()[0][2]["tool_call_id"] == "c1"
