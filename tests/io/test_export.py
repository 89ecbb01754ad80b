"""Export: round trips through every format, manifests, and `datasets.load_dataset` compatibility."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curation import cli, files
from curation.filters import ExampleFilter
from curation.io import export, importers
from curation.store import Store, revisions

ALPACA = [
    {"instruction": "Add 1 and 2.", "input": "", "output": "3", "task": "add", "tags": ["math", "easy"]},
    {"instruction": "Translate to French.", "input": "cat", "output": "chat", "task_cluster": "lang"},
    {"instruction": 'Quote: "hi" <b>&</b>', "input": "ünïcode ✓", "output": "line 1\nline 2", "tags": ["odd"]},
]
CHATS = [
    {"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]},
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2"},
        ]
    },
]
KEYS = ("instruction", "input", "output", "task", "task_cluster", "tags", "messages")
IMPORT_FORMAT = {"alpaca": "alpaca", "messages": "messages", "sharegpt": "messages", "parquet": "parquet"}


def rows_of(store: Store) -> list[dict]:
    frame = export.export_frame(store, ExampleFilter())
    out = []
    for row in frame.to_dict("records"):
        row["messages"] = json.loads(row["messages"]) if isinstance(row["messages"], str) else None
        out.append({k: (None if row[k] is None or row[k] != row[k] else row[k]) for k in KEYS})
    return out


def filled(tmp_path: Path, name: str, data: bytes, fmt: str) -> Store:
    store = Store(tmp_path / f"{name}.duckdb")
    importers.import_bytes(store, data, f"{name}.{fmt}", fmt)
    return store


@pytest.mark.parametrize(
    ("fmt", "source_format", "data"),
    [
        ("alpaca", "alpaca", json.dumps(ALPACA).encode()),
        ("parquet", "alpaca", json.dumps(ALPACA).encode()),
        ("messages", "messages", "".join(json.dumps(c) + "\n" for c in CHATS).encode()),
        ("sharegpt", "messages", "".join(json.dumps(c) + "\n" for c in CHATS).encode()),
        ("parquet", "messages", "".join(json.dumps(c) + "\n" for c in CHATS).encode()),
    ],
)
def test_import_export_import_gives_the_same_rows(tmp_path: Path, fmt: str, source_format: str, data: bytes) -> None:
    first = filled(tmp_path, "first", data, source_format)
    result = export.export(first, ExampleFilter(), fmt, tmp_path / f"out{export.EXTENSIONS[fmt]}")
    second = filled(tmp_path, "second", result.path.read_bytes(), IMPORT_FORMAT[fmt])
    assert rows_of(second) == rows_of(first)
    assert len(rows_of(first)) == result.manifest["rows"]
    first.close()
    second.close()


def test_export_uses_current_text_and_the_filter(make_store, tmp_path: Path) -> None:
    store = make_store(ALPACA)
    revisions.update_example(store, 2, {"output": "le chat"}, expected_version=1, author="t")
    revisions.set_status(store, "approved", author="t", ids=[2, 3])
    result = export.export(store, ExampleFilter(statuses=["approved"]), "alpaca", tmp_path / "a.json")
    records = json.loads(result.path.read_text())
    assert [(r["id"], r["output"]) for r in records] == [(2, "le chat"), (3, "line 1\nline 2")]
    assert records[1]["tags"] == ["odd"]
    assert result.manifest["filter"] == {"statuses": ["approved"]}
    assert result.manifest["by_status"] == {"approved": 2}


def test_messages_export_puts_edited_text_into_the_conversation(tmp_path: Path) -> None:
    store = filled(tmp_path, "chats", "".join(json.dumps(c) + "\n" for c in CHATS).encode(), "messages")
    revisions.update_example(store, 2, {"instruction": "Q1 edited"}, expected_version=1, author="t")
    data, _ = export.build(store, ExampleFilter(), "messages")
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert [t["content"] for t in lines[1]["messages"]] == ["Be brief.", "Q1 edited", "A1", "Q2", "A2"]
    plain = export.conversation({"instruction": "Do", "input": "this", "output": "Done", "messages": None})
    assert plain == [{"role": "user", "content": "Do\n\nthis"}, {"role": "assistant", "content": "Done"}]
    store.close()


def test_manifest_hashes(make_store, tmp_path: Path) -> None:
    store = make_store(ALPACA)
    results = {fmt: export.export(store, ExampleFilter(), fmt, tmp_path / f"x-{fmt}") for fmt in export.EXPORT_FORMATS}
    for result in results.values():
        saved = json.loads(result.manifest_path.read_text())
        assert saved == result.manifest
        assert saved["sha256"] == hashlib.sha256(result.path.read_bytes()).hexdigest()
        assert saved["rows"] == 3 and saved["file"] == result.path.name and saved["created_at"]
    assert len({r.manifest["content_sha256"] for r in results.values()}) == 1
    revisions.update_example(store, 1, {"output": "three"}, expected_version=1, author="t")
    _, changed = export.build(store, ExampleFilter(), "alpaca")
    assert changed["content_sha256"] != results["alpaca"].manifest["content_sha256"]


def test_export_errors_are_clear(make_store, tmp_path: Path) -> None:
    store = make_store(ALPACA)
    with pytest.raises(ValueError, match="no rows match the filter"):
        export.export(store, ExampleFilter(statuses=["approved"]), "alpaca", tmp_path / "a.json")
    with pytest.raises(ValueError, match="export format must be one of"):
        export.export(store, ExampleFilter(), "csv", tmp_path / "a.csv")
    with pytest.raises(ValueError, match="is a folder"):
        export.export(store, ExampleFilter(), "alpaca", tmp_path)
    assert not (tmp_path / "a.json").exists()


def test_default_path_is_under_exports_dir(make_store, tmp_path: Path) -> None:
    result = export.export(make_store(ALPACA), ExampleFilter(), "parquet")
    assert result.path.parent == tmp_path / "exports" and result.path.suffix == ".parquet"
    assert result.manifest_path.exists()


@pytest.mark.parametrize("fmt", export.EXPORT_FORMATS)
def test_datasets_load_dataset_reads_each_format(make_store, tmp_path: Path, fmt: str) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    store = make_store(ALPACA)
    result = export.export(store, ExampleFilter(), fmt, tmp_path / f"d{export.EXTENSIONS[fmt]}")
    builder = "parquet" if fmt == "parquet" else "json"
    ds = datasets.load_dataset(builder, data_files=str(result.path), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 3
    if fmt == "messages":
        assert ds[2]["messages"][0] == {"role": "user", "content": 'Quote: "hi" <b>&</b>\n\nünïcode ✓'}
    elif fmt == "sharegpt":
        assert ds[2]["conversations"][0] == {"from": "human", "value": 'Quote: "hi" <b>&</b>\n\nünïcode ✓'}
    else:
        assert list(ds["output"]) == ["3", "chat", "line 1\nline 2"]
        assert list(ds["tags"]) == [["easy", "math"], [], ["odd"]]  # tags come out sorted


def _export_file_state(path: Path) -> tuple[bytes, bytes]:
    return path.read_bytes(), export.manifest_path_for(path).read_bytes()


def test_export_never_writes_over_the_database_or_its_wal(make_store, tmp_path: Path) -> None:
    store = make_store(ALPACA)
    wal = Path(f"{store.path}.wal")
    before = (store.path.read_bytes(), wal.read_bytes() if wal.exists() else None)
    for target in (store.path, wal):
        with pytest.raises(files.FileWriteError, match="is a database"):
            export.export(store, ExampleFilter(), "alpaca", target, overwrite=True)
    assert (store.path.read_bytes(), wal.read_bytes() if wal.exists() else None) == before
    other_db = make_store([{"instruction": "x"}])  # any DuckDB file, open or not, is refused too
    other_db.close()
    with pytest.raises(files.FileWriteError, match="is a database"):
        export.export(store, ExampleFilter(), "alpaca", other_db.path, overwrite=True)


def test_export_over_an_existing_file_needs_overwrite(make_store, tmp_path: Path) -> None:
    store = make_store(ALPACA)
    target = tmp_path / "keep.json"
    target.write_text("precious")
    with pytest.raises(files.FileWriteError, match="already exists; choose another file, or pass --force"):
        export.export(store, ExampleFilter(), "alpaca", target)
    assert target.read_text() == "precious" and not export.manifest_path_for(target).exists()
    export.manifest_path_for(tmp_path / "new.json").write_text("{}")  # a stray manifest is not replaced either
    with pytest.raises(files.FileWriteError, match=r"new\.json\.manifest\.json already exists"):
        export.export(store, ExampleFilter(), "alpaca", tmp_path / "new.json")
    assert not (tmp_path / "new.json").exists()
    result = export.export(store, ExampleFilter(), "alpaca", target, overwrite=True)
    assert len(json.loads(target.read_text())) == 3
    assert result.manifest["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()


@pytest.mark.parametrize("failing_write", [1, 2])
def test_a_full_disk_leaves_the_old_export_and_manifest_intact(
    make_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_write: int
) -> None:
    store = make_store(ALPACA)
    target = tmp_path / "out.json"
    export.export(store, ExampleFilter(), "alpaca", target)
    old = _export_file_state(target)
    revisions.update_example(store, 1, {"output": "three"}, expected_version=1, author="t")
    real_fsync, calls = files.os.fsync, []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == failing_write:  # the data file (1) or the manifest (2) hits the full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    with pytest.raises(files.FileWriteError, match=r"cannot write .*the disk is full \(No space left on device\)"):
        export.export(store, ExampleFilter(), "alpaca", target, overwrite=True)
    assert _export_file_state(target) == old
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")) == []


def test_cli_export_refuses_the_database_and_existing_files(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with Store(db) as store:
        importers.import_bytes(store, json.dumps(ALPACA).encode(), "a.json", "alpaca")
    before = db.read_bytes()
    runner = CliRunner()
    result = runner.invoke(cli.app, ["--db", str(db), "export", "--status", "all", "--out", str(db), "--force"])
    assert result.exit_code == 1
    assert result.stderr == f"error: {db} is a database (or its write-ahead log); choose another output file\n"
    assert db.read_bytes() == before
    out = tmp_path / "out.json"
    out.write_text("mine")
    refused = runner.invoke(cli.app, ["--db", str(db), "export", "--status", "all", "--out", str(out)])
    assert refused.exit_code == 1 and "already exists; choose another file, or pass --force" in refused.stderr
    assert out.read_text() == "mine"
    forced = runner.invoke(cli.app, ["--db", str(db), "export", "--status", "all", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert len(json.loads(out.read_text())) == 3
    assert db.read_bytes() == before  # a read-only open: not even a job row is written


def test_sharegpt_export_registers_itself_in_dataset_info(tmp_path: Path) -> None:
    rows = [{"messages": CHATS[1]["messages"], "tools": [{"name": "f", "parameters": {}}]}]
    store = filled(tmp_path, "chats", "".join(json.dumps(r) + "\n" for r in rows).encode(), "messages")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "o.json"}}))
    result = export.export(store, ExampleFilter(), "sharegpt", tmp_path / "mine.json")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["other"] == {"file_name": "o.json"}  # earlier entries are kept
    assert info["mine"]["file_name"] == "mine.json"
    assert info["mine"]["formatting"] == "sharegpt"
    assert info["mine"]["columns"] == {"messages": "conversations", "system": "system", "tools": "tools"}
    assert info["mine"]["tags"]["function_tag"] == "function_call"
    (record,) = json.loads(result.path.read_text())
    assert record["system"] == "Be brief."
    assert [t["from"] for t in record["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert json.loads(record["tools"]) == [{"name": "f", "parameters": {}}]
    store.close()
