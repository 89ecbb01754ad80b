"""Mixture benchmark: preview and export a mixture over 1M rows.

    python bench/mixture_bench.py [--rows 1000000] [--repeat 5]

Builds a temporary store of synthetic rows (200 tasks in 20 clusters with a skewed size distribution, 90%
approved, 10% tagged cot) through `add_examples` in batches of 100K, then times `mixture.preview` (target
<= 2 s) with every rule combined, and the full export of that mixture to a snapshot (JSONL + Parquet).
Prints one line per figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from curation.mixture import export as mixture_export  # noqa: E402
from curation.mixture import plan as mixture  # noqa: E402
from curation.mixture.plan import MixConfig  # noqa: E402
from curation.store import Store, examples  # noqa: E402

BATCH = 100_000
TASKS = 200


def build(store: Store, rows: int) -> None:
    rng = np.random.default_rng(0)
    sizes = np.arange(1, TASKS + 1, dtype=float) ** -1.0  # Zipf-like: the largest task ~17%, the smallest ~0.1%
    task_p = sizes / sizes.sum()
    for start in range(0, rows, BATCH):
        n = min(BATCH, rows - start)
        task = rng.choice(TASKS, size=n, p=task_p)
        ids = np.arange(start, start + n)
        frame = pd.DataFrame(
            {
                "instruction": [f"Synthetic instruction {i} for task {t}." for i, t in zip(ids, task, strict=True)],
                "output": [f"Answer number {i}." for i in ids],
                "task": [f"task{t:03d}" for t in task],
                "task_cluster": [f"cluster{t % 20:02d}" for t in task],
                "status": np.where(rng.random(n) < 0.9, "approved", "pending"),
                "tags": [["cot"] if c else None for c in rng.random(n) < 0.1],
            }
        )
        examples.add_examples(store, frame, examples.SourceInfo(name=f"batch{start // BATCH}", format="bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.duckdb")
        start = time.perf_counter()
        build(store, args.rows)
        print(f"built {args.rows:,} synthetic rows via add_examples in {time.perf_counter() - start:.1f} s")
        config = MixConfig(
            name="bench",
            group_by="task",
            cap=3000,
            temperature=2.0,
            weights={"task000": 0.05},
            cot_share=0.2,
            total=300_000,
            heldout_clusters=["cluster07"],
            seed=1,
        )
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            plan = mixture.preview(store, config)
            times.append(time.perf_counter() - start)
        print(
            f"preview over {args.rows:,} rows ({len(plan.groups)} groups, {config.rule()}): first {times[0]:.3f} s, "
            f"median {statistics.median(times):.3f} s of {args.repeat} (target <= 2 s)"
        )
        for group_by in ("source", "task_cluster", "cot"):
            start = time.perf_counter()
            mixture.preview(store, MixConfig(group_by=group_by, cap=50_000))
            print(f"preview grouped by {group_by}: {time.perf_counter() - start:.3f} s")
        start = time.perf_counter()
        folder_path = mixture_export.export(store, config, Path(folder) / "snapshots")
        elapsed = time.perf_counter() - start
        size = sum(p.stat().st_size for p in folder_path.iterdir()) / 1e6
        print(
            f"export of {plan.total:,} train + {plan.heldout_total:,} held-out rows: {elapsed:.1f} s "
            f"({size:.0f} MB: JSONL + Parquet + manifest)"
        )
        store.close()


if __name__ == "__main__":
    main()
