"""Store benchmark: import the two Alpaca files, grow to 1M rows, time page / count queries.

    python bench/store_bench.py [--rows 1000000] [--repeat 7]

Targets (issue 2): import <= 5 s; filtered + searched page query <= 300 ms median; count by status <= 100 ms.
Prints one line per figure. Uses a temporary database; reads ../shared/data beside the repository.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.filters import ExampleFilter  # noqa: E402
from curation.io import importers  # noqa: E402
from curation.store import Store, examples  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = ("alpaca_noinput_instructions_31323.json", "alpaca_subset_5000.json")
QUERY = ExampleFilter(search="water", statuses=["pending"])


def median_ms(fn: Callable[[], object], repeat: int) -> tuple[str, object]:
    """Median wall time, with the process CPU time beside it: on a busy shared machine wall time inflates."""
    fn()  # warm-up: the first run pays for loading columns from disk
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    load = os.getloadavg()[0]
    return (
        f"{statistics.median(walls):.0f} ms median wall (cpu {statistics.median(cpus):.0f} ms, load {load:.1f})",
        result,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="grow the store to this many rows")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per query (median reported)")
    args = parser.parse_args()
    missing = [f for f in FILES if not (DATA / f).exists()]
    if missing:
        sys.exit(f"missing {missing} in {DATA}")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        start = time.perf_counter()
        imported = sum(
            importers.import_file(store, DATA / name, "alpaca", allow_missing_output=True).rows for name in FILES
        )
        print(f"import {imported:,} Alpaca rows (2 files): {time.perf_counter() - start:.2f} s (target <= 5 s)")
        start = time.perf_counter()
        examples.duplicate_rows(store, args.rows)
        store.close()  # closing checkpoints: measure the layout the app sees when it opens the file
        store = Store(Path(tmp) / "bench.duckdb")
        total = examples.count(store)
        print(f"grow to {total:,} rows with synthetic copies: {time.perf_counter() - start:.2f} s")
        page_ms, frame = median_ms(lambda: examples.page(store, QUERY, limit=50), args.repeat)
        print(f"page of 50, search 'water' + status pending, {total:,} rows: {page_ms} (target <= 300 ms)")
        deep = ExampleFilter(statuses=["pending"])
        deep_ms, _ = median_ms(lambda: examples.page(store, deep, limit=50, offset=100_000), args.repeat)
        print(f"page of 50 at offset 100,000, status pending, sorted by id: {deep_ms}")
        count_ms, matches = median_ms(lambda: examples.count(store, QUERY), args.repeat)
        print(f"count of matches for that filter ({matches:,}): {count_ms}")
        status_ms, _ = median_ms(lambda: examples.counts_by(store, "status"), args.repeat)
        print(f"count by status, {total:,} rows: {status_ms} (target <= 100 ms)")
        assert len(frame) == 50
        store.close()


if __name__ == "__main__":
    main()
