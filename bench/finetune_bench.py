"""Fine-tune throughput: the Trainer-based trainer vs the previous hand-written loop, packing on and off.

Same model (packaged SmolLM2-135M-Instruct, float32 on CPU), same LoRA and batch settings, same Alpaca rows; each
of the four runs is its own trainer process (`python -m curation.finetune.train RUN_DIR`), one after the other.
The previous loop is the project tree at `--baseline-commit` (extracted with `git archive` into a temp folder and
run from there), so both sides are the real code of their commit. Effective tokens/s is non-padding tokens over
the time of every step but the first (warm-up), from the trainer's own progress lines; peak RSS is the process's.
On a loaded machine wall-clock rates are noise; the CPU seconds of each whole trainer process are the steadier figure.

    python bench/finetune_bench.py [--rows 200] [--steps 6] [--batch 4] [--max-len 256] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_subset_5000.json"
BASELINE = "015d6dd"  # main before the move to transformers' Trainer (the hand-written loop)
NEW_SETTINGS = ("long_rows", "mixed_precision", "load_in_4bit", "token_budget", "eval_snapshot", "experiment")

from curation.finetune import runner, runs  # noqa: E402
from curation.finetune.config import TrainConfig  # noqa: E402
from curation.mixture import snapshot  # noqa: E402
from curation.models import resolve_model_dir  # noqa: E402


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


def extract_tree(commit: str, target: Path) -> Path:
    """The project at `commit`, as plain files (no checkout of this worktree is touched)."""
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run_mode(cfg: TrainConfig, root: Path, tree: Path) -> dict:
    """Train one mode with the trainer of `tree` in its own process; throughput and peak RSS from its run folder."""
    run_dir = runner.create_run(cfg, root)
    if tree != ROOT:  # the old TrainConfig refuses settings it does not know
        settings = yaml.safe_load((run_dir / runs.CONFIG).read_text())
        (run_dir / runs.CONFIG).write_text(yaml.safe_dump({k: v for k, v in settings.items() if k not in NEW_SETTINGS}))
    env = os.environ | {"PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "curation.finetune.train", str(run_dir)], cwd=tree, env=env, capture_output=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = runs.read_json(run_dir / runs.RESULT) or {}
    if done.returncode or result.get("status") != "succeeded":
        raise SystemExit(f"trainer failed ({tree}): {done.stderr.decode(errors='replace')[-2000:]}")
    steps = [r for r in runs.read_progress(run_dir) if r["type"] == "step"][1:]
    tokens, seconds = sum(r["tokens"] for r in steps), sum(r["step_s"] for r in steps)
    losses = [r["loss"] for r in runs.read_progress(run_dir) if r["type"] == "step"]
    return {
        "tokens_per_s": tokens / seconds,
        "tokens": tokens,
        "seconds": seconds,
        "peak_rss_mb": result["peak_rss_mb"],
        "losses": losses,
        "cpu_s": cpu_s,  # the whole process (imports, model load, tokenising, every step): robust to a loaded machine
        "all_tokens": sum(r["tokens"] for r in runs.read_progress(run_dir) if r["type"] == "step"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the trainer (0: torch default)")
    parser.add_argument("--baseline-commit", default=BASELINE)
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        snap = alpaca_snapshot(args.rows, Path(tmp) / "snaps")
        old_tree = extract_tree(args.baseline_commit, Path(tmp) / "baseline")
        base = TrainConfig(
            snapshot=str(snap),
            base_model=str(resolve_model_dir()),
            max_steps=args.steps,
            batch_size=args.batch,
            max_seq_len=args.max_len,
            eval_interval=0,
            save_interval=0,
            lora_dropout=0.0,
        )
        packed_cfg = TrainConfig(**{**base.to_dict(), "packing": True})
        load = os.getloadavg()[0]
        started = time.perf_counter()
        results = {}
        for tree_name, tree in (("new", ROOT), ("old", old_tree)):
            for mode, cfg in (("unpacked", base), ("packed", packed_cfg)):
                results[tree_name, mode] = run_mode(cfg, Path(tmp) / "runs", tree)
        wall = time.perf_counter() - started
    setting = (
        f"SmolLM2-135M LoRA q,v r=8 fp32 CPU, {args.rows} Alpaca rows, batch {args.batch} x max_len {args.max_len}, "
        f"{args.steps - 1} timed steps, threads={args.threads or 'default'}, baseline {args.baseline_commit}, "
        f"load avg {load:.1f} -> {os.getloadavg()[0]:.1f}, {wall:.0f} s total"
    )
    print(f"setting: {setting}")
    for mode in ("unpacked", "packed"):
        new, old = results["new", mode], results["old", mode]
        print(f"{mode} effective tokens/s: new {new['tokens_per_s']:.1f}, old {old['tokens_per_s']:.1f}, "
              f"new/old {new['tokens_per_s'] / old['tokens_per_s']:.2f}x")  # fmt: skip
        new_cpu, old_cpu = new["cpu_s"], old["cpu_s"]
        print(f"{mode} process CPU seconds (whole run, {new['all_tokens']} tokens): new {new_cpu:.0f}, "
              f"old {old_cpu:.0f}, new/old {new_cpu / old_cpu:.2f}x")  # fmt: skip
        print(f"{mode} peak RSS: new {new['peak_rss_mb']:.0f} MiB, old {old['peak_rss_mb']:.0f} MiB")
        gap = max(abs(a - b) for a, b in zip(new["losses"], old["losses"], strict=True))
        print(f"{mode} largest step-loss difference new vs old: {gap:.2e}")
    for tree_name in ("new", "old"):
        speedup = results[tree_name, "packed"]["tokens_per_s"] / results[tree_name, "unpacked"]["tokens_per_s"]
        print(f"packing speed-up ({tree_name}): {speedup:.2f}x")


if __name__ == "__main__":
    main()
