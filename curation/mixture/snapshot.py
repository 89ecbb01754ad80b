"""Immutable, versioned mixture snapshots: train/held-out rows as JSONL and Parquet plus a manifest.

A snapshot is the folder `<snapshots_dir>/<name>-<first 12 hex of content_hash>/` holding `train.jsonl`,
`heldout.jsonl` (may be empty), `train.parquet`, `heldout.parquet` and `manifest.json`.
`content_hash` is the sha256 over the lines "train.jsonl <sha256>" and "heldout.jsonl <sha256>" of the two
JSONL files, so it depends only on the rows and on which part each row is in. Each JSONL line is
`json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, except that U+0085, U+2028
and U+2029 are written as \\u escapes so line-splitting readers (str.splitlines) see exactly one row per
line. Every file is written deterministically (rows in the given order, no timestamps anywhere, not even in
the manifest): the same inputs give byte-identical folders. The creation time reported by `list_snapshots`
is the manifest file's modification time.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curation import config, files

ROW_FIELDS = (
    "id",
    "revision",
    "instruction",
    "input",
    "output",
    "messages",
    "source",
    "origin",
    "task",
    "task_cluster",
    "format",
    "cot",
    "group",
)
FILES = ("train.jsonl", "heldout.jsonl", "train.parquet", "heldout.parquet", "manifest.json")
MANIFEST_VERSION = 1
# Characters that str.splitlines() treats as line ends but json.dumps(ensure_ascii=False) leaves raw.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_encode_string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses for str
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TEXT = ("instruction", "input", "output")
_OPTIONAL_TEXT = ("source", "origin", "task", "task_cluster", "format")
# tool_calls as JSON text (an assistant turn's calls), tool_call_id on a tool turn; both only where the turn has them.
_MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("reasoning_content", pa.string()),
        ("tool_calls", pa.string()),
        ("tool_call_id", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("revision", pa.int64()),
        *((name, pa.string()) for name in _TEXT),
        ("messages", pa.list_(_MESSAGE)),
        *((name, pa.string()) for name in _OPTIONAL_TEXT),
        ("cot", pa.bool_()),
        ("group", pa.string()),
    ]
)


def dumps(data: Any) -> str:
    """Canonical JSON used for every snapshot file (sorted keys, fixed separators, UTF-8 kept)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_name(name: str) -> str:
    """A snapshot name is a short slug; raise a ValueError that says the rule."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"snapshot name must be 1-64 letters, digits, '.', '_' or '-' (not first); got {name!r}")
    return name


def _messages(value: Any) -> list[dict[str, str]] | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
        | ({"reasoning_content": str(m["reasoning_content"])} if m.get("reasoning_content") else {})
        | ({"tool_calls": _calls_text(m["tool_calls"])} if m.get("tool_calls") else {})
        | ({"tool_call_id": str(m["tool_call_id"])} if m.get("tool_call_id") else {})
        for m in value
    ]


def _calls_text(calls: Any) -> str:
    return calls if isinstance(calls, str) else json.dumps(calls, ensure_ascii=False)


def _optional(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _columns(frame: pd.DataFrame, part: str) -> dict[str, list[Any]]:
    """The rows as one plain Python list per ROW_FIELDS column, with the contract's types."""
    missing = [f for f in ROW_FIELDS if f not in frame.columns]
    if len(frame) == 0:
        return {f: [] for f in ROW_FIELDS}
    if missing:
        raise ValueError(f"{part} rows lack the column(s) {missing}; every row needs {list(ROW_FIELDS)}")
    cols: dict[str, list[Any]] = {
        "id": [int(v) for v in frame["id"].tolist()],
        "revision": [int(v) if _optional(v) is not None else 0 for v in frame["revision"].tolist()],
        "cot": [bool(v) for v in frame["cot"].tolist()],
        "messages": [_messages(v) for v in frame["messages"].tolist()],
        "group": [str(v) for v in frame["group"].tolist()],
    }
    cols |= {f: [_optional(v) or "" for v in frame[f].tolist()] for f in _TEXT}
    cols |= {f: [_optional(v) for v in frame[f].tolist()] for f in _OPTIONAL_TEXT}
    return cols


def _json_value(value: Any) -> str:
    """One value as canonical JSON text (strings through the same C encoder json.dumps uses)."""
    if isinstance(value, str):
        return _encode_string(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    return str(value) if isinstance(value, int) else dumps(value)


def _json_column(values: list[Any]) -> list[str]:
    """A column as canonical JSON texts; the common all-string / all-int / all-bool columns take a fast path."""
    kinds = {type(v) for v in values}
    if kinds == {str}:
        return [_encode_string(v) for v in values]
    if kinds == {int}:
        return [str(v) for v in values]
    if kinds == {bool}:
        return ["true" if v else "false" for v in values]
    return [_json_value(v) for v in values]


def _jsonl(cols: dict[str, list[Any]]) -> bytes:
    """JSON Lines byte-identical to `dumps(row)` per row, built column-wise for speed."""
    if not cols["id"]:
        return b""
    keys = sorted(ROW_FIELDS)
    encoded = [_json_column(cols[k]) for k in keys]
    heads = [('{"' if i == 0 else ',"') + k + '":' for i, k in enumerate(keys)]
    lines = ("".join(h + v for h, v in zip(heads, row, strict=True)) + "}\n" for row in zip(*encoded, strict=True))
    text = "".join(lines)
    for char, escaped in _LINE_BREAKS.items():
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def _parquet(cols: dict[str, list[Any]], path: Path) -> None:
    table = pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in SCHEMA}, schema=SCHEMA)
    pq.write_table(table, path, compression="zstd", write_statistics=False)


def _file_info(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def content_hash(train_jsonl: bytes, heldout_jsonl: bytes) -> str:
    """sha256 over each part's own digest, so moving a row between train and held-out changes it."""
    parts = (
        f"{name} {hashlib.sha256(data).hexdigest()}\n"
        for name, data in (("train.jsonl", train_jsonl), ("heldout.jsonl", heldout_jsonl))
    )
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def write_snapshot(
    train: pd.DataFrame, heldout: pd.DataFrame, manifest: dict[str, Any], root: Path | None = None
) -> Path:
    """Write a snapshot folder (or return the existing one with the same name and content); returns its path.

    `manifest` needs `name`; `content_hash`, `counts`, `files` and `manifest_version` are filled in here.
    """
    name = check_name(manifest.get("name", ""))
    root = Path(root) if root is not None else config.get_path("snapshots_dir")
    train_rows, heldout_rows = _columns(train, "train"), _columns(heldout, "heldout")
    train_bytes, heldout_bytes = _jsonl(train_rows), _jsonl(heldout_rows)
    digest = content_hash(train_bytes, heldout_bytes)
    folder = root / f"{name}-{digest[:12]}"
    counts = {"train": len(train_rows["id"]), "heldout": len(heldout_rows["id"])}
    if folder.exists():
        return _existing(folder, digest)
    root.mkdir(parents=True, exist_ok=True)
    files.remove_stale_temporaries(root)  # left by an export that was killed before it could clean up
    tmp = Path(tempfile.mkdtemp(prefix=files.temp_prefix(name), dir=root))
    try:
        (tmp / "train.jsonl").write_bytes(train_bytes)
        (tmp / "heldout.jsonl").write_bytes(heldout_bytes)
        _parquet(train_rows, tmp / "train.parquet")
        _parquet(heldout_rows, tmp / "heldout.parquet")
        full = dict(manifest) | {
            "name": name,
            "manifest_version": MANIFEST_VERSION,
            "content_hash": digest,
            "counts": counts,
            "files": {f: _file_info(tmp / f) for f in FILES if f != "manifest.json"},
        }
        (tmp / "manifest.json").write_text(json.dumps(full, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
        os.rename(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if folder.exists():  # another writer finished the same snapshot first
            return _existing(folder, digest)
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _existing(folder: Path, digest: str) -> Path:
    """An existing folder is reused only if it holds exactly this content; it is never overwritten."""
    try:
        manifest = read_manifest(folder)
        found = manifest.get("content_hash")
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{folder} exists but is not a readable snapshot ({err}); move it away and export again"
        ) from err
    if found != digest:
        raise ValueError(f"{folder} exists with different content (hash {found}); snapshots are never overwritten")
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of one snapshot folder."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a snapshot: it has no manifest.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from err


def list_snapshots(root: Path | None = None) -> list[dict[str, Any]]:
    """Every snapshot under `root` (default: the snapshots_dir setting): manifest + path + created_at, newest first."""
    root = Path(root) if root is not None else config.get_path("snapshots_dir")
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not (folder / "manifest.json").is_file():
            continue
        try:
            manifest = read_manifest(folder)
        except ValueError:
            continue
        mtime = (folder / "manifest.json").stat().st_mtime
        created = pd.Timestamp(mtime, unit="s", tz="UTC").isoformat(timespec="seconds")
        found.append(manifest | {"path": str(folder), "created_at": created, "_mtime": mtime})
    found.sort(key=lambda m: (m["_mtime"], m["path"]), reverse=True)
    return [{k: v for k, v in m.items() if k != "_mtime"} for m in found]


def _load_jsonl(path: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    frame = pd.DataFrame(rows, columns=list(ROW_FIELDS))
    return frame.astype({"id": "int64", "revision": "int64", "cot": "bool"})


def load_snapshot(path: Path | str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(train, heldout, manifest) of a snapshot folder; raises ValueError if its files were altered."""
    folder = Path(path)
    manifest = read_manifest(folder)
    train_bytes = (folder / "train.jsonl").read_bytes()
    heldout_bytes = (folder / "heldout.jsonl").read_bytes()
    if content_hash(train_bytes, heldout_bytes) != manifest.get("content_hash"):
        raise ValueError(f"{folder}: train/heldout JSONL do not match the manifest's content_hash (files altered)")
    return _load_jsonl(folder / "train.jsonl"), _load_jsonl(folder / "heldout.jsonl"), manifest
