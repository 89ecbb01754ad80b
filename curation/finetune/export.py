"""Outputs beyond the adapter: a merged model, an adapter zip, and a snapshot in LLaMA-Factory's dataset format."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from curation import config, files
from curation.finetune import data, runs

SHAREGPT_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
    "observation_tag": "tool",  # tool results (tool calls are in the assistant text as <tool_call> blocks)
}


def export_merged(run_dir: Path, out_dir: Path | None = None) -> Path:
    """Base model with the run's LoRA merged in, saved as a plain transformers folder (+ tokenizer)."""
    from curation.finetune.compare import load_tuned

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else config.get_path("exports_dir") / "models" / run_dir.name
    if (out_dir / "config.json").exists():
        raise ValueError(f"{out_dir} already holds a model; choose another folder")
    model, tok, _ = load_tuned(run_dir, device="cpu")
    merged = model.merge_and_unload()
    with files.new_folder(out_dir) as temp:  # a failed save leaves no half-written model behind
        merged.save_pretrained(temp)
        tok.save_pretrained(temp)
    return out_dir


def _alpaca(row: dict[str, Any]) -> dict[str, str]:
    return {"instruction": row["instruction"] or "", "input": row["input"] or "", "output": row["output"] or ""}


def _sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    return {"messages": data.conversation(row)}


def _write_dataset(rows: list[dict[str, Any]], path: Path, overwrite: bool) -> str:
    text = json.dumps(rows, ensure_ascii=False, indent=1)
    files.write_file(path, text.encode("utf-8"), overwrite=overwrite)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _entry(file_name: str, sha1: str, sharegpt: bool) -> dict[str, Any]:
    if sharegpt:
        return {
            "file_name": file_name,
            "file_sha1": sha1,
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": SHAREGPT_TAGS,
        }
    columns = {"prompt": "instruction", "query": "input", "response": "output"}
    return {"file_name": file_name, "file_sha1": sha1, "formatting": "alpaca", "columns": columns}


def export_llamafactory(
    snapshot_dir: Path, out_dir: Path, name: str | None = None, *, overwrite: bool = False
) -> dict[str, Any]:
    """Write the snapshot as LLaMA-Factory datasets and add their entries to out_dir/dataset_info.json.

    Rows with a `messages` conversation go to a sharegpt-format file (role/content tags), the others to an
    alpaca-format file; the held-out split gets its own `<name>_heldout` entries. Existing entries are kept;
    an existing dataset file with other content is replaced only with `overwrite`.
    """
    from curation.mixture.snapshot import load_snapshot

    train, heldout, manifest = load_snapshot(Path(snapshot_dir))
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name or manifest.get("name") or Path(snapshot_dir).name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info_path = out_dir / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    written: dict[str, int] = {}
    for split, frame in (("", train), ("_heldout", heldout)):
        records = frame.to_dict("records")
        chat = [r for r in records if data._messages(r.get("messages"))]
        plain = [r for r in records if not data._messages(r.get("messages"))]
        for suffix, rows, fmt in (("", plain, _alpaca), ("_sharegpt", chat, _sharegpt)):
            if not rows:
                continue
            entry = f"{name}{split}{suffix}"
            sha1 = _write_dataset([fmt(r) for r in rows], out_dir / f"{entry}.json", overwrite)
            info[entry] = _entry(f"{entry}.json", sha1, fmt is _sharegpt)
            written[entry] = len(rows)
    files.write_file(info_path, (json.dumps(info, indent=2, ensure_ascii=False) + "\n").encode(), overwrite=True)
    return {"out_dir": str(out_dir), "datasets": written, "content_hash": manifest.get("content_hash")}


def adapter_zip(run_dir: Path) -> bytes:
    """The run's adapter folder plus config.yaml and the snapshot manifest, as zip bytes for a download."""
    import io
    import zipfile

    run_dir = Path(run_dir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((run_dir / runs.ADAPTER).rglob("*")):
            if path.is_file():
                archive.write(path, f"{runs.ADAPTER}/{path.relative_to(run_dir / runs.ADAPTER)}")
        for name in (runs.CONFIG, runs.MANIFEST):
            if (run_dir / name).is_file():
                archive.write(run_dir / name, name)
    return buffer.getvalue()
