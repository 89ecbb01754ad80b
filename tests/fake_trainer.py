"""A stand-in for `python -m curation.finetune.train RUN_DIR` that starts in a blink (stdlib + yaml only).

Writes the same progress.jsonl / result.json / train.log a real run writes: `max_steps` steps of a falling
loss, an eval every `eval_interval` steps, honours the cancel file, resumes after the last recorded step.
FAKE_TRAINER_STEP_S sets the time per step; FAKE_TRAINER_FAIL_AT=n exits with code 3 at step n.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import yaml


def main(run_dir: Path) -> int:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    total, every = int(cfg.get("max_steps") or 10), int(cfg.get("eval_interval") or 0)
    step_s, fail_at = (
        float(os.environ.get("FAKE_TRAINER_STEP_S", "0.05")),
        int(os.environ.get("FAKE_TRAINER_FAIL_AT", 0)),
    )
    progress = run_dir / "progress.jsonl"
    done = [json.loads(x) for x in progress.read_text().splitlines()] if progress.exists() else []
    step = max([r["step"] for r in done if r["type"] == "step"], default=0)
    log = (run_dir / "train.log").open("a")

    def write(record: dict) -> None:
        if record["type"] == "step":
            left = record["total_steps"] - record["step"]
            record |= {"tokens_per_s": 1000.0, "step_s": step_s, "eta_s": left * step_s, "elapsed_s": step * step_s}
        with progress.open("a") as fh:
            fh.write(json.dumps(record | {"time": time.time()}) + "\n")

    write({"type": "phase", "phase": "loading", "done": 0, "total": 0})
    write({"type": "start", "total_steps": total, "resumed_from": step, "pid": os.getpid()})
    write({"type": "phase", "phase": "training", "done": step, "total": total})
    print(f"fake trainer: starting at step {step}", flush=True)
    status = "succeeded"
    while step < total:
        if (run_dir / "cancel").exists():
            status = "cancelled"
            break
        time.sleep(step_s)
        step += 1
        if step == fail_at:
            print("RuntimeError: fake failure", flush=True)
            return 3
        loss = 3.0 / step
        write({"type": "step", "step": step, "total_steps": total, "loss": loss, "lr": 1e-4, "tokens": 100})
        (run_dir / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True, exist_ok=True)
        log.write(f"step {step}/{total} loss {loss:.4f}\n")
        log.flush()
        if every and step % every == 0:
            write({"type": "eval", "step": step, "eval_loss": 3.5 / step})
    if status == "succeeded":  # a final evaluation, then saving, as the real trainer does
        write({"type": "phase", "phase": "evaluating", "done": 1, "total": 2})
        time.sleep(step_s)
    write({"type": "phase", "phase": "saving", "done": 0, "total": 0})
    (run_dir / "adapter").mkdir(exist_ok=True)
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    result = {"status": status, "step": step, "total_steps": total, "final_loss": 3.0 / max(step, 1), "duration_s": 1.0}
    (run_dir / "result.json").write_text(json.dumps(result))
    write({"type": "end", "status": status, "step": step})
    print(f"fake trainer: {status} at step {step}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
