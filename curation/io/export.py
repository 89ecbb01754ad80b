"""Export the rows matching a filter as Alpaca JSON, OpenAI `messages` JSONL, ShareGPT JSON or Parquet, each with a
manifest.

Conversations keep their tool calls, tool results, reasoning and tools (see `curation.io.chat`), and a chat row's
fields that the importer kept in meta come back as row fields, so import -> export -> import gives the same rows.
A ShareGPT export also adds its entry to `dataset_info.json` in the same folder (LLaMA-Factory's registry:
`formatting: sharegpt`, columns messages / system / tools, the from/value tags).

Every format is readable by `datasets.load_dataset("json" | "parquet", data_files=...)`. The manifest
(`<file>.manifest.json`) records row count, filter, time, the file's sha256 and a format-independent
content hash, so two exports of the same rows can be compared whatever their format.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from curation import config, files
from curation.filters import ExampleFilter
from curation.io import chat
from curation.io.reasoning import reasoning_fields
from curation.store import Store, examples, team

EXPORT_FORMATS = ("alpaca", "messages", "sharegpt", "parquet")
EXTENSIONS = {"alpaca": ".json", "messages": ".jsonl", "sharegpt": ".json", "parquet": ".parquet"}
MIME_TYPES = {
    "alpaca": "application/json",
    "messages": "application/jsonl",
    "sharegpt": "application/json",
    "parquet": "application/octet-stream",
}
_COLUMNS = (
    "id",
    "origin",
    "status",
    "instruction",
    "input",
    "output",
    "messages",
    "tools",
    "meta",
    "task",
    "task_cluster",
    "format",
)
SHAREGPT_INFO = {
    "formatting": "sharegpt",
    "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
    "tags": {
        "role_tag": "from",
        "content_tag": "value",
        "user_tag": "human",
        "assistant_tag": "gpt",
        "observation_tag": "observation",
        "function_tag": "function_call",
        "system_tag": "system",
    },
}
Progress = Callable[[float, float, str], None]


@dataclass(frozen=True)
class ExportResult:
    """Where an export went and what its manifest says."""

    path: Path
    manifest_path: Path
    manifest: dict[str, Any]


def _check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}; got {fmt!r}")


def export_frame(store: Store, flt: ExampleFilter) -> pd.DataFrame:
    """The matching rows (current text, ordered by id) with their tags as a list column."""
    frame = examples.fetch(store, flt, _COLUMNS)
    tags = examples.tags_for(store, frame["id"].tolist()) if len(frame) else pd.DataFrame(columns=["example_id", "tag"])
    by_id = tags.groupby("example_id")["tag"].agg(list).to_dict()
    frame["tags"] = [by_id.get(i, []) for i in frame["id"]]
    return frame


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def _user_text(row: dict[str, Any]) -> str:
    return row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")


def conversation(row: dict[str, Any]) -> list[dict[str, str]]:
    """The row as chat turns: a stored conversation with its first user/assistant turn set to the current text."""
    turns = [dict(t) for t in chat.parse_stored(row.get("messages")) or []]
    first_user = next((i for i, t in enumerate(turns) if t["role"] == "user"), None)
    if first_user is None:
        return [{"role": "user", "content": _user_text(row)}, {"role": "assistant", "content": row["output"]}]
    turns[first_user]["content"] = _user_text(row)
    answer = next((i for i in range(first_user + 1, len(turns)) if turns[i]["role"] == "assistant"), None)
    if answer is None:
        turns.insert(first_user + 1, {"role": "assistant", "content": row["output"]})
    else:
        turns[answer]["content"] = row["output"]
    return turns


def _json(value: Any) -> Any:
    value = _none(value)
    return json.loads(value) if isinstance(value, str) else value


def _row_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A chat row's own fields the importer kept in meta (not the ones it derived), to write back."""
    meta, turns = _json(row.get("meta")), chat.parse_stored(row.get("messages"))
    if not isinstance(meta, dict) or not turns:
        return {}
    _, answer, reply = chat.first_exchange(turns)
    derived = reasoning_fields(answer, reply.get("reasoning_content"))  # what the importer adds to meta
    return {k: v for k, v in meta.items() if k not in derived or derived[k] != v}


def _record(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    common = {
        "task": _none(row["task"]),
        "task_cluster": _none(row["task_cluster"]),
        "tags": list(row["tags"]),
    }
    if fmt in ("messages", "sharegpt"):
        fields = _row_fields(row)
        write = chat.to_openai if fmt == "messages" else chat.to_sharegpt
        return {"id": int(row["id"]), **fields, **write(conversation(row), _json(row.get("tools"))), **common}
    common = {"id": int(row["id"]), **common}
    return {"instruction": row["instruction"], "input": row["input"], "output": row["output"], **common}


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of the exported rows' text, ids and tags, independent of the file format."""
    digest = hashlib.sha256()
    for row in frame[["id", "instruction", "input", "output", "tags"]].itertuples(index=False):
        digest.update(json.dumps([int(row.id), row.instruction, row.input, row.output, list(row.tags)]).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def render(frame: pd.DataFrame, fmt: str, progress: Progress | None = None) -> bytes:
    """The export file's bytes for rows from `export_frame`."""
    _check_format(fmt)
    if fmt == "parquet":
        table = frame[["id", "instruction", "input", "output", "task", "task_cluster", "format", "origin", "status"]]
        table = table.assign(
            source=frame["source"],
            tags=frame["tags"],
            messages=[_json_text(conversation(r)) if _json(r["messages"]) else None for r in frame.to_dict("records")],
            tools=[_json_text(_json(v)) for v in frame["tools"]],
        )
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        return buffer.getvalue()
    records = []
    rows = frame.to_dict("records")
    for done, row in enumerate(rows, start=1):
        records.append(_record(row, fmt))
        if progress and (done % 5000 == 0 or done == len(rows)):
            progress(done, len(rows), f"{done:,} of {len(rows):,} rows")
    if fmt in ("alpaca", "sharegpt"):
        return (json.dumps(records, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def build(store: Store, flt: ExampleFilter, fmt: str, progress: Progress | None = None) -> tuple[bytes, dict]:
    """Export file bytes and the manifest (without file name) for the rows matching `flt`."""
    _check_format(fmt)
    frame = export_frame(store, flt)
    if frame.empty:
        raise ValueError(f"no rows match the filter ({flt.describe()}); nothing to export")
    data = render(frame, fmt, progress)
    manifest = {
        "format": fmt,
        "rows": len(frame),
        "filter": flt.to_dict(),
        "filter_description": flt.describe(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_sha256": content_hash(frame),
        "by_status": frame["status"].value_counts().to_dict(),
        "by_origin": frame["origin"].value_counts().to_dict(),
        "database": str(store.path),
    }
    return data, manifest


def default_path(fmt: str) -> Path:
    """A new timestamped file under the exports folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder, n = config.get_path("exports_dir"), 1
    path = folder / f"export-{stamp}-{fmt}{EXTENSIONS[fmt]}"
    while path.exists():  # two exports within one second must not overwrite each other
        n += 1
        path = folder / f"export-{stamp}-{fmt}-{n}{EXTENSIONS[fmt]}"
    return path


def manifest_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def export(
    store: Store,
    flt: ExampleFilter,
    fmt: str,
    out: str | Path | None = None,
    progress: Progress | None = None,
    *,
    overwrite: bool = False,
) -> ExportResult:
    """Write the rows matching `flt` to `out` (default: under exports_dir) plus `<out>.manifest.json`.

    Never writes over the database or its WAL; an existing file is replaced only with `overwrite`. The file and
    its manifest are written atomically, the manifest last.
    """
    team.authorize(store, "export")
    _check_format(fmt)
    path = Path(out) if out else default_path(fmt)
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name such as {path / ('export' + EXTENSIONS[fmt])}")
    manifest_file = manifest_path_for(path)
    for target in (path, manifest_file):  # refuse before the (possibly long) build
        files.check_target(target, overwrite=overwrite, databases=[store.path])
    data, manifest = build(store, flt, fmt, progress)
    manifest["file"] = path.name
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    files.write_files(
        [(path, data), (manifest_file, text.encode("utf-8"))], overwrite=overwrite, databases=[store.path]
    )
    if fmt == "sharegpt":
        register_sharegpt(path, manifest["sha256"])
    return ExportResult(path, manifest_file, manifest)


def register_sharegpt(path: Path, sha256: str) -> Path:
    """Add (or replace) the export's entry in `dataset_info.json` beside it; other entries are kept."""
    info_path = path.with_name("dataset_info.json")
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    if not isinstance(info, dict):
        raise ValueError(f"{info_path} is not a JSON object; move it away to register the export")
    info[path.stem] = {"file_name": path.name, "file_sha256": sha256, **SHAREGPT_INFO}
    text = json.dumps(info, indent=2, ensure_ascii=False) + "\n"
    files.write_file(info_path, text.encode("utf-8"), overwrite=True)
    return info_path


def read_manifest(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def list_exports(folder: Path | None = None) -> pd.DataFrame:
    """Earlier exports in a folder (default exports_dir), newest first, from their manifests."""
    folder = Path(folder) if folder else config.get_path("exports_dir")
    rows = []
    for manifest_file in folder.glob("*.manifest.json") if folder.exists() else []:
        try:
            manifest = read_manifest(manifest_file)
        except (OSError, ValueError):
            continue  # a half-written or foreign file is not an export we can describe
        rows.append({k: manifest.get(k) for k in ("created_at", "file", "format", "rows", "filter_description")})
    columns = ["created_at", "file", "format", "rows", "filter_description"]
    return pd.DataFrame(rows, columns=columns).sort_values("created_at", ascending=False, ignore_index=True)
