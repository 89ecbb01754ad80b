"""Fine-tune throughput: effective (non-padding) tokens/s with packing vs without, and peak memory.

Same model (packaged SmolLM2-135M-Instruct), same LoRA and batch settings, same Alpaca rows; each mode runs
the real trainer process (`python -m curation.finetune.train`) on its own run folder, one after the other.
Tokens/s is measured from the trainer's progress lines over every step but the first (warm-up).

    python bench/finetune_bench.py [--rows 400] [--steps 6] [--batch 4] [--max-len 512] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_subset_5000.json"

from curation.finetune import runner, runs  # noqa: E402
from curation.finetune.config import TrainConfig  # noqa: E402
from curation.mixture import snapshot  # noqa: E402


def alpaca_snapshot(rows: int, folder: Path) -> Path:
    """The first `rows` Alpaca rows as a snapshot (contract fields; no held-out split)."""
    frame = pd.DataFrame(json.loads(DATA.read_text())[:rows])
    frame = frame.assign(
        id=range(1, len(frame) + 1),
        revision=0,
        messages=None,
        source="alpaca_subset_5000",
        origin="imported",
        task=None,
        task_cluster=None,
        format="zero-shot",
        cot=False,
        group="alpaca",
    )
    return snapshot.write_snapshot(frame, frame.iloc[:0], {"name": "alpaca-bench", "rule": "bench", "seed": 0}, folder)


def run_mode(cfg: TrainConfig, root: Path) -> dict:
    """Train one mode in its own process; throughput from its progress lines, peak RSS from its result."""
    run_dir = runner.create_run(cfg, root)
    code = runner.start_process(run_dir).wait()
    result = runner.outcome(run_dir, code)
    steps = [r for r in runs.read_progress(run_dir) if r["type"] == "step"][1:]
    tokens, seconds = sum(r["tokens"] for r in steps), sum(r["step_s"] for r in steps)
    return {
        "tokens_per_s": tokens / seconds,
        "tokens": tokens,
        "seconds": seconds,
        "peak_rss_mb": result["peak_rss_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-len", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the trainer (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        snap = alpaca_snapshot(args.rows, Path(tmp) / "snaps")
        base = TrainConfig(
            snapshot=str(snap),
            max_steps=args.steps,
            batch_size=args.batch,
            max_seq_len=args.max_len,
            eval_interval=0,
            save_interval=0,
            lora_dropout=0.0,
        )
        load = os.getloadavg()[0]
        started = time.perf_counter()
        plain = run_mode(base, Path(tmp) / "runs")
        packed = run_mode(TrainConfig(**{**base.to_dict(), "packing": True}), Path(tmp) / "runs")
        wall = time.perf_counter() - started
    setting = (
        f"SmolLM2-135M LoRA q,v r=8, batch {args.batch} x max_len {args.max_len}, {args.steps - 1} timed steps, "
        f"threads={args.threads or 'default'}, load avg {load:.1f} -> {os.getloadavg()[0]:.1f}, {wall:.0f} s total"
    )
    print(f"setting: {setting}")
    for name, mode in (("unpacked", plain), ("packed", packed)):
        spent = f"{mode['tokens']} tokens in {mode['seconds']:.1f} s"
        print(f"{name} effective tokens/s: {mode['tokens_per_s']:.1f} ({spent})")
    print(f"packing speed-up: {packed['tokens_per_s'] / plain['tokens_per_s']:.2f}x (target >= 1.5x)")
    print(f"peak RSS unpacked: {plain['peak_rss_mb']:.0f} MiB; packed: {packed['peak_rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
