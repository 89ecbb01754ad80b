"""Accuracy on a held-out FLAN task, FLAN style: the packaged SmolLM2-135M-Instruct scored by rank classification.

The held-out task (default ECQA; QASC also works) comes from ../shared/data/flan_cot: each question lists its
options inline ("Options:\\n- a\\n- b"), which are parsed into an options list while the question is kept as
given. A seeded sample of --items questions is scored for the base model; prints accuracy (summed and per-token
mean option log-probs) with seeded bootstrap 95% intervals, and items/s.

With --train it also trains LoRA on the other FLAN CoT tasks, raw vs curated at the same token budget, for each
--seeds value, through the project's experiment launcher, scores every run on the same items and prints the
paired differences (tuned - base, curated - raw) and the seed mean +- sd. On a 2-core CPU that takes hours.

    python bench/eval_bench.py [--task ecqa] [--items 500] [--threads N] [--train --budget 20000 --seeds 0,1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TASKS = ("aqua", "creak", "ecqa", "gsm8k", "qasc", "sensemaking", "strategyqa")

from curation.evaluate import engine, stats  # noqa: E402
from curation.evaluate.items import EvalItem, item_from_row  # noqa: E402


def read_task(task: str) -> list[tuple[str, str, str]]:
    """(question, answer, rationale) rows of a FLAN CoT TSV, literal \\n turned into newlines."""
    path = DATA / "flan_cot" / f"{task}_train.tsv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [tuple(c.replace("\\n", "\n") for c in row[:3]) for row in rows if len(row) >= 3]


def heldout_items(task: str, n: int, seed: int = 0) -> tuple[list[EvalItem], int]:
    """A seeded sample of n multiple-choice items of the task; also how many rows had no parsable options."""
    rows = read_task(task)
    items = [item_from_row(i, q, a, {"task": task}, str(i)) for i, (q, a, _) in enumerate(rows)]
    mc = [i for i in items if i.options]
    chosen = sorted(random.Random(seed).sample(mc, min(n, len(mc))), key=lambda i: i.index)
    return [EvalItem(k, *_fields(i)) for k, i in enumerate(chosen)], len(items) - len(mc)


def _fields(item: EvalItem) -> tuple:
    return item.question, item.answer, item.options, item.answer_index, item.append_options, item.slices, item.id


def score(spec: str, items: list[EvalItem]) -> tuple[list[dict], float]:
    """Per-item results and items/s (model load excluded)."""
    loaded = engine.load_model(spec)
    started = time.perf_counter()
    last = [0.0]

    def progress(done: float, total: float | None, message: str | None) -> None:
        if time.perf_counter() - last[0] > 60:
            last[0] = time.perf_counter()
            print(f"  {spec}: {message}", file=sys.stderr, flush=True)

    results = engine.evaluate_items(loaded, items, progress=progress)
    return results, len(items) / (time.perf_counter() - started)


def report(name: str, results: list[dict]) -> dict:
    summed = stats.accuracy([r["correct"] for r in results])
    mean = stats.accuracy([r["correct_norm"] for r in results])
    print(f"{name}: accuracy {stats.format_interval(summed)}, per-token-mean {stats.format_interval(mean)}")
    return {
        "accuracy": summed.value,
        "ci95": summed.as_list(),
        "accuracy_norm": mean.value,
        "ci95_norm": mean.as_list(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="ecqa", choices=TASKS)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--train", action="store_true", help="also train raw vs curated on the other tasks")
    parser.add_argument("--budget", type=int, default=20000, help="train tokens per run (--train)")
    parser.add_argument("--seeds", default="0,1", help="training seeds (--train)")
    parser.add_argument("--rows", type=int, default=600, help="raw rows per run (--train)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    started, load = time.perf_counter(), os.getloadavg()[0]
    items, unparsed = heldout_items(args.task, args.items)
    k = sorted({len(i.options) for i in items})
    print(f"held out: {args.task}, {len(items)} items ({k} options each; {unparsed} rows without parsable options)")
    base, rate = score("base", items)
    out = {"task": args.task, "n": len(items), "base": report("base", base), "items_per_s": round(rate, 3)}
    if args.train:
        out |= train_and_compare(args, items, base)
    wall = time.perf_counter() - started
    print(f"setting: SmolLM2-135M-Instruct, CPU, {rate:.2f} items/s, load avg {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f}, wall {wall / 60:.1f} min")  # fmt: skip
    print(json.dumps(out))


def make_snapshots(root: Path, heldout_task: str, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """raw: a seeded sample of the other FLAN CoT tasks as imported; curated: the same pool with duplicate
    questions and short rationales (< 12 words) dropped, topped up to the same row count. Both hold out nothing
    of the evaluated task (its rows never reach training)."""
    import pandas as pd

    from curation.io.importers import parse
    from curation.mixture import snapshot

    frames = []
    for task in TASKS:
        if task == heldout_task:
            continue
        path = DATA / "flan_cot" / f"{task}_train.tsv"
        frame = parse(path.read_bytes(), path.name, "flan-cot-tsv")
        frames.append(frame.assign(source=f"flan_{task}", task_cluster=task))
    pool = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    pool = pool.assign(
        id=range(1, len(pool) + 1), revision=0, messages=None, origin="imported", task=pool["task_cluster"],
        format="zero-shot", cot=True, group=pool["source"],
    )  # fmt: skip
    pool["input"] = pool["input"].fillna("") if "input" in pool else ""
    columns = ["id", "revision", "instruction", "input", "output", "messages", "source", "origin", "task"]
    columns += ["task_cluster", "format", "cot", "group"]
    pool = pool[columns]
    raw = pool.iloc[:rows]
    good = pool[~pool["instruction"].duplicated() & (pool["output"].str.split().str.len() >= 12)]
    curated = good.iloc[:rows]
    heldout = pool.iloc[-20:]  # eval loss only; accuracy is measured on the held-out task's items
    meta = {"rule": "eval bench", "seed": seed}
    raw_dir = snapshot.write_snapshot(raw, heldout, {**meta, "name": "raw"}, root)
    curated_dir = snapshot.write_snapshot(curated, heldout, {**meta, "name": "curated"}, root)
    print(f"train data: raw {len(raw)} rows, curated {len(curated)} rows (of {len(good)} after the rules)")
    return raw_dir, curated_dir


def train_runs(snaps: tuple[Path, Path], budget: int, seed: int, tmp: Path) -> dict[str, Path]:
    """Train raw and curated at the same token budget and seed through the experiment launcher."""
    from curation.finetune import runner
    from curation.finetune.config import TrainConfig
    from curation.jobs import JobRunner
    from curation.models import resolve_model_dir
    from curation.store import Store

    cfg = TrainConfig(
        base_model=str(resolve_model_dir()), max_seq_len=256, batch_size=4, learning_rate=5e-4, lora_dropout=0.0,
        token_budget=budget, eval_interval=0, save_interval=0, seed=seed,
    )  # fmt: skip
    run_dirs = runner.create_experiment(cfg, list(snaps), f"eval-bench-seed{seed}", tmp / "runs")
    store = Store(tmp / f"bench-{seed}.duckdb")
    try:
        runner.run_experiment_foreground(JobRunner(store), run_dirs, None)
    finally:
        store.close()
    return dict(zip(("raw", "curated"), run_dirs, strict=True))


def train_and_compare(args: argparse.Namespace, items: list[EvalItem], base: list[dict]) -> dict:
    """Raw vs curated LoRA runs on the other tasks, per seed; paired differences on the same items."""
    correct: dict[str, list[bool]] = {}
    out: dict = {"runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        snaps = make_snapshots(Path(tmp) / "snaps", args.task, args.rows)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name, run_dir in train_runs(snaps, args.budget, seed, Path(tmp)).items():
                results, _ = score(str(run_dir), items)
                out["runs"][f"{name}/seed{seed}"] = report(f"{name} seed {seed}", results)
                correct[f"{name}/seed{seed}"] = [r["correct"] for r in results]
    base_ok = [r["correct"] for r in base]
    for key, ok in correct.items():
        print(stats.paired_difference(base_ok, ok).describe("base", key))
        if key.startswith("curated/"):
            raw_key = key.replace("curated/", "raw/")
            print(stats.paired_difference(correct[raw_key], ok).describe(raw_key, key))
    for name in ("raw", "curated"):
        mean, sd = stats.seeds_summary([v["accuracy"] for k, v in out["runs"].items() if k.startswith(name + "/")])
        print(f"{name}: accuracy over seeds {mean:.3f} +- {sd:.3f}")
        out[f"{name}_mean_sd"] = [mean, sd]
    return out


if __name__ == "__main__":
    main()
