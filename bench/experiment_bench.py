"""Did curation help? A small real experiment: the packaged SmolLM2-135M-Instruct, LoRA on CPU, two snapshots at
the same token budget, evaluated on one shared held-out set.

- raw: the first Alpaca rows of ../shared/data/alpaca_subset_5000.json, as imported.
- curated: the same Alpaca pool with rows whose output has fewer than 3 words dropped, rebalanced with 30% FLAN CoT
  rows (gsm8k, imported with the project's FLAN importer: rationale + "So the answer is ...").
- shared held-out: Alpaca and gsm8k rows that neither snapshot trains on (sliced by source / CoT).

BIG-Bench Hard data (../shared/data/bbh_cot) is never read: it carries a do-not-train canary. Both runs go through
the real trainer process and the project's experiment launcher; prints each run's held-out loss (all, per source).

    python bench/experiment_bench.py [--budget 6000] [--rows 400] [--heldout 25] [--threads N]
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
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

from curation.finetune import runner, runs  # noqa: E402
from curation.finetune.config import TrainConfig  # noqa: E402
from curation.io.importers import parse  # noqa: E402
from curation.mixture import snapshot  # noqa: E402
from curation.models import resolve_model_dir  # noqa: E402

CONTRACT = ["id", "revision", "instruction", "input", "output", "messages", "source", "origin", "task"]
CONTRACT += ["task_cluster", "format", "cot", "group"]


def as_snapshot_rows(frame: pd.DataFrame, source: str, cot: bool, first_id: int) -> pd.DataFrame:
    """Imported rows in the snapshot contract."""
    frame = frame.reset_index(drop=True)
    return pd.DataFrame(
        {
            "id": range(first_id, first_id + len(frame)),
            "revision": 0,
            "instruction": frame["instruction"],
            "input": frame["input"],
            "output": frame["output"],
            "messages": None,
            "source": source,
            "origin": "imported",
            "task": frame.get("task"),
            "task_cluster": frame.get("task_cluster"),
            "format": frame.get("format", "zero-shot"),
            "cot": cot,
            "group": source,
        }
    )[CONTRACT]


def load_pools() -> tuple[pd.DataFrame, pd.DataFrame]:
    alpaca_file, gsm8k_file = DATA / "alpaca_subset_5000.json", DATA / "flan_cot" / "gsm8k_train.tsv"
    alpaca = parse(alpaca_file.read_bytes(), alpaca_file.name, "alpaca")
    gsm8k = parse(gsm8k_file.read_bytes(), gsm8k_file.name, "flan-cot-tsv")
    return (
        as_snapshot_rows(alpaca, "alpaca_subset_5000", False, 1),
        as_snapshot_rows(gsm8k, "flan_gsm8k", True, 100_001),
    )


def make_snapshots(root: Path, rows: int, heldout: int) -> tuple[Path, Path]:
    alpaca, gsm8k = load_pools()
    shared = pd.concat([alpaca.iloc[-heldout:], gsm8k.iloc[-heldout:]], ignore_index=True)
    raw = alpaca.iloc[:rows]
    kept = raw[raw["output"].str.split().str.len() >= 3]
    n_cot = int(0.3 * rows)
    curated = pd.concat([kept.iloc[: rows - n_cot], gsm8k.iloc[:n_cot]], ignore_index=True)
    curated = curated.sample(frac=1.0, random_state=0).reset_index(drop=True)
    meta = {"rule": "experiment bench", "seed": 0}
    raw_dir = snapshot.write_snapshot(raw, shared, {**meta, "name": "raw"}, root)
    curated_dir = snapshot.write_snapshot(curated, shared.iloc[:0], {**meta, "name": "curated"}, root)
    print(
        f"data: raw {len(raw)} Alpaca rows; curated {len(curated)} rows ({len(raw) - len(kept)} short outputs dropped, "
        f"{n_cot} gsm8k CoT rows); shared held-out {len(shared)} rows ({heldout} Alpaca + {heldout} gsm8k)"
    )
    return raw_dir, curated_dir


class PrintProgress:
    """The experiment job's progress, one line per change of step."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, fraction: float, message: str | None) -> None:
        if message and message.split("·")[0] != self.last:
            self.last = message.split("·")[0]
            print(f"  {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=6000, help="train tokens per run")
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--heldout", type=int, default=25, help="held-out rows per source")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from curation.jobs import JobRunner
    from curation.store import Store

    started, load = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        raw_dir, curated_dir = make_snapshots(Path(tmp) / "snaps", args.rows, args.heldout)
        cfg = TrainConfig(
            base_model=str(resolve_model_dir()),
            max_seq_len=256,
            batch_size=4,
            learning_rate=5e-4,
            lora_dropout=0.0,
            token_budget=args.budget,
            eval_interval=10,
            save_interval=0,
            eval_max_examples=2 * args.heldout,
        )
        run_dirs = runner.create_experiment(cfg, [raw_dir, curated_dir], "bench", Path(tmp) / "runs")
        store = Store(Path(tmp) / "bench.duckdb")
        try:
            runner.run_experiment_foreground(JobRunner(store), run_dirs, PrintProgress())
        finally:
            store.close()
        from curation.finetune import compare

        table = compare.experiment_slices(run_dirs)
        summaries = [runs.summary(d) for d in run_dirs]
    wall = time.perf_counter() - started
    print(
        f"setting: SmolLM2-135M LoRA q,v r=8, lr 5e-4, batch 4 x 256, {args.budget} train tokens per run, CPU, "
        f"load avg {load:.1f} -> {os.getloadavg()[0]:.1f}, wall {wall / 60:.1f} min"
    )
    for info in summaries:
        print(
            f"{info['snapshot']}: held-out loss {info['first_eval_loss']:.4f} -> {info['final_eval_loss']:.4f} "
            f"after {info['step']} steps"
        )
    for (slice_name, value), group in table.groupby(["slice", "value"], sort=False):
        if slice_name in ("all", "source"):
            losses = ", ".join(f"{r.snapshot} {r.tuned_loss:.4f}" for r in group.itertuples())
            base = group["base_loss"].iloc[0]
            print(f"held-out loss {slice_name}={value} ({group['examples'].iloc[0]} rows): base {base:.4f}, {losses}")
    print(json.dumps({"curated_minus_raw_all": _delta(table)}))


def _delta(table: pd.DataFrame) -> float:
    overall = table[table["slice"] == "all"].set_index("snapshot")["tuned_loss"]
    return round(float(overall["curated"] - overall["raw"]), 4)


if __name__ == "__main__":
    main()
