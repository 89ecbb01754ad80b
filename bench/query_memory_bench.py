"""Native memory kept per DuckDB query: RSS growth over N repeats of the app's queries, in one process.

    python bench/query_memory_bench.py [--repeats 3000]

The soak's slow RSS creep is not Python objects (sys.getallocatedblocks stays flat, and every closed session is
freed). This isolates it: each case runs one query shape `--repeats` times over the 5,000-row Alpaca subset from
../shared/data in a fresh store and prints the RSS growth after its first tenth (warm-up) as KB per query, beside
DuckDB's own accounting (duckdb_memory()) so buffer-pool growth and allocator growth can be told apart.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.filters import ExampleFilter  # noqa: E402
from curation.io import importers  # noqa: E402
from curation.store import Store, examples, jobs_table  # noqa: E402

ALPACA = ROOT.parent / "shared" / "data" / "alpaca_subset_5000.json"


def cases(store: Store) -> dict:
    return {
        "browse_page": lambda: examples.page(store, ExampleFilter(), limit=50, offset=100),
        "browse_count": lambda: examples.count(store, ExampleFilter(search="write")),
        "jobs_list": lambda: jobs_table.list_jobs(store, None, 20),
        "select_limit_unordered": lambda: store.query_rows("SELECT id FROM examples LIMIT 200"),
        "select_limit_ordered": lambda: store.query_rows("SELECT id FROM examples ORDER BY id LIMIT 200"),
        "select_all_ids": lambda: store.query_rows("SELECT id FROM examples"),
    }


def rss_kb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "q.duckdb")
        importers.import_bytes(store, ALPACA.read_bytes(), ALPACA.name, "alpaca", source_name="a", author="bench")
        for name, run in cases(store).items():
            warm = args.repeats // 10
            for _ in range(warm):
                run()
            start, duck_start = rss_kb(), store.query_value("SELECT sum(memory_usage_bytes) FROM duckdb_memory()")
            for _ in range(args.repeats - warm):
                run()
            grown = rss_kb() - start
            duck = store.query_value("SELECT sum(memory_usage_bytes) FROM duckdb_memory()") - duck_start
            per_query = grown / (args.repeats - warm)
            print(f"rss_kb_per_query {name} {per_query:.2f} (duckdb_memory delta {duck / 1024:.0f} KB)", flush=True)
        store.close()


if __name__ == "__main__":
    main()
