"""Run folders: their file layout, and what the page and CLI read from them (progress, log tail, run list).

A run folder holds config.yaml, manifest.json (copy of the snapshot's), progress.jsonl, train.log (the
trainer's log), console.log (the process's stdout/stderr when launched by the runner), pid, result.json
(written at the end: succeeded, cancelled or failed), checkpoints/checkpoint-N/ (the Trainer's resumable state)
and adapter/.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from curation import config

CONFIG = "config.yaml"
MANIFEST = "manifest.json"
PROGRESS = "progress.jsonl"
LOG = "train.log"
CONSOLE = "console.log"
PID = "pid"
RESULT = "result.json"
CANCEL = "cancel"
ADAPTER = "adapter"
CHECKPOINTS = "checkpoints"
COMPARE = "compare.json"
SLICES = "slice_loss.json"


def runs_root() -> Path:
    return config.get_path("runs_dir")


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file, or None when missing or half-written."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Write atomically (readers never see a half-written file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, default=float) + "\n"


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoints/checkpoint-N folder (the Trainer's layout), or None."""
    found = []
    for folder in (Path(run_dir) / CHECKPOINTS).glob("checkpoint-*"):
        suffix = folder.name.removeprefix("checkpoint-")
        if suffix.isdigit() and folder.is_dir():
            found.append((int(suffix), folder))
    return max(found)[1] if found else None


def truncate_progress(run_dir: Path, step: int) -> int:
    """Drop step and eval lines past `step` (a resume restarts there); returns how many were dropped."""
    records = read_progress(run_dir)
    kept = [r for r in records if r.get("type") not in ("step", "eval") or r.get("step", 0) <= step]
    if step == 0:  # a fresh start: not even the step-0 eval survives
        kept = [r for r in records if r.get("type") not in ("step", "eval")]
    if len(kept) != len(records):
        path = Path(run_dir) / PROGRESS
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(json_line(r) for r in kept), encoding="utf-8")
        os.replace(tmp, path)
    return len(records) - len(kept)


def read_progress(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of progress.jsonl (a half-written last line is skipped)."""
    path = Path(run_dir) / PROGRESS
    records = []
    with contextlib.suppress(OSError), path.open(encoding="utf-8") as fh:
        for line in fh:
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


def log_tail(run_dir: Path, lines: int = 30) -> str:
    """Last lines of the process output (console.log when launched by the runner, else train.log)."""
    for name in (CONSOLE, LOG):
        path = Path(run_dir) / name
        if path.is_file() and path.stat().st_size:
            with path.open("rb") as fh:
                fh.seek(max(0, path.stat().st_size - 64_000))
                text = fh.read().decode("utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
    return ""


def read_pid(run_dir: Path) -> int | None:
    try:
        return int((Path(run_dir) / PID).read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int | None, run_dir: Path | None = None) -> bool:
    """True while a trainer process with this pid runs (not a zombie; on Linux also checks its command line)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True
    with contextlib.suppress(OSError):
        if proc.joinpath("stat").read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
            return False
        cmdline = proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        return run_dir is None or Path(run_dir).name in cmdline
    return True


def status_of(run_dir: Path) -> str:
    """succeeded / cancelled / failed from result.json; running while the process lives; else interrupted."""
    result = read_json(Path(run_dir) / RESULT)
    if result and result.get("status"):
        return str(result["status"])
    if pid_alive(read_pid(run_dir), run_dir):
        return "running"
    return "interrupted" if (Path(run_dir) / PROGRESS).exists() else "created"


def summary(run_dir: Path) -> dict[str, Any]:
    """One row of the run list."""
    from curation.finetune.config import load_config

    run_dir = Path(run_dir)
    cfg = load_config(run_dir / CONFIG)
    manifest = read_json(run_dir / MANIFEST) or {}
    records = read_progress(run_dir)
    steps = [r for r in records if r.get("type") == "step"]
    evals = [r for r in records if r.get("type") == "eval"]
    result = read_json(run_dir / RESULT) or {}
    return {
        "run": run_dir.name,
        "status": status_of(run_dir),
        "snapshot": manifest.get("name", Path(cfg.snapshot).name),
        "snapshot_hash": str(manifest.get("content_hash", ""))[:12],
        "experiment": cfg.experiment,
        "eval_snapshot": Path(cfg.eval_snapshot).name if cfg.eval_snapshot else "",
        "base_model": Path(cfg.base_model).name,
        "step": steps[-1]["step"] if steps else 0,
        "total_steps": steps[-1]["total_steps"] if steps else None,
        "final_loss": steps[-1]["loss"] if steps else None,
        "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
        "first_eval_loss": evals[0]["eval_loss"] if evals else None,
        "duration_s": result.get("duration_s", steps[-1]["elapsed_s"] if steps else None),
        "settings": settings_text(cfg.to_dict()),
        "created": time.strftime("%Y-%m-%d %H:%M", time.localtime((run_dir / CONFIG).stat().st_mtime)),
        "path": str(run_dir),
        "has_adapter": (run_dir / ADAPTER / "adapter_config.json").exists(),
        "has_checkpoint": last_checkpoint(run_dir) is not None,
    }


def loss_frame(records: list[dict[str, Any]]) -> Any:
    """Long-format losses for a chart: step, loss, series ('train' or 'eval')."""
    import pandas as pd

    rows = [{"step": r["step"], "loss": r["loss"], "series": "train"} for r in records if r.get("type") == "step"]
    rows += [{"step": r["step"], "loss": r["eval_loss"], "series": "eval"} for r in records if r.get("type") == "eval"]
    return pd.DataFrame(rows, columns=["step", "loss", "series"])


def experiment_names(listed: list[dict[str, Any]]) -> list[str]:
    """Experiment names among listed runs, newest first."""
    return list(dict.fromkeys(r["experiment"] for r in listed if r.get("experiment")))


def experiment_losses(run_dirs: list[Path]) -> Any:
    """Eval losses of several runs in one long frame (step, loss, run, snapshot) for one chart."""
    import pandas as pd

    parts = []
    for run_dir in run_dirs:
        manifest = read_json(Path(run_dir) / MANIFEST) or {}
        frame = loss_frame(read_progress(run_dir))
        frame = frame[frame["series"] == "eval"].assign(run=Path(run_dir).name, snapshot=manifest.get("name", ""))
        parts.append(frame)
    columns = ["step", "loss", "series", "run", "snapshot"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def settings_text(cfg: dict[str, Any]) -> str:
    mods = ",".join(cfg["target_modules"])
    return (
        f"r={cfg['lora_r']} a={cfg['lora_alpha']} {mods} lr={cfg['learning_rate']:g} bs={cfg['batch_size']}"
        f"x{cfg['grad_accum']} len={cfg['max_seq_len']} {cfg['prompt_format']}{' packed' if cfg['packing'] else ''}"
    )


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every run folder under runs_dir, newest first."""
    root = Path(root) if root is not None else runs_root()
    folders = [p for p in root.iterdir() if (p / CONFIG).is_file()] if root.is_dir() else []
    folders.sort(key=lambda p: ((p / CONFIG).stat().st_mtime, p.name), reverse=True)
    rows = []
    for folder in folders:
        with contextlib.suppress(OSError, ValueError):
            rows.append(summary(folder))
    return rows
