"""Export: round trips through every format, manifests, and `datasets.load_dataset` compatibility."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

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
IMPORT_FORMAT = {"alpaca": "alpaca", "messages": "messages", "parquet": "parquet"}


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
    else:
        assert list(ds["output"]) == ["3", "chat", "line 1\nline 2"]
        assert list(ds["tags"]) == [["easy", "math"], [], ["odd"]]  # tags come out sorted
