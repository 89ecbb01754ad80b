"""Drop report, snapshot lineage and snapshot diff on the Alpaca no-input file (31,323 rows).

    python bench/drop_report_bench.py

A bulk approve of every row, 200 single-row rejections, then a "dedup-like" action marking every 5th row duplicate
(6,265 rows); reports on it, exports snapshots before and after and diffs them. Prints one line per figure (wall
and process CPU seconds: on a busy shared machine wall time inflates). Uses a temporary database and folder.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.io import importers  # noqa: E402
from curation.mixture import export as mixture_export  # noqa: E402
from curation.mixture import lineage  # noqa: E402
from curation.mixture.plan import MixConfig  # noqa: E402
from curation.operations import report  # noqa: E402
from curation.store import Store, revisions  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_noinput_instructions_31323.json"


def timed(label: str, fn: Callable[[], object]) -> object:
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s wall, {time.process_time() - cpu:.2f} s cpu")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        rows = importers.import_file(store, DATA, "alpaca", allow_missing_output=True).rows
        revisions.set_status(store, "approved", author="a", ids=list(range(1, rows + 1)))
        for i in range(200):
            revisions.set_status(store, "rejected", author="a", ids=[rows - i], reason="bench")
        before = mixture_export.export(store, MixConfig(name="before"), Path(folder) / "snaps")
        marked = list(range(1, rows + 1, 5))
        action = revisions.set_status(store, "duplicate", author="a", ids=marked, reason="bench", kind="dedup")
        rep = timed(f"drop report of {len(marked):,} rows", lambda: report.drop_report(store, int(action.action_id)))
        assert rep.decisions == {"status → duplicate": len(marked)}
        ids = list(range(1, rows + 1))
        timed("lineage alone (202 actions, 31K snapshot ids)", lambda: lineage.lineage(store, ids))
        after = timed(
            "mixture export with lineage (202 actions)",
            lambda: mixture_export.export(store, MixConfig(name="after"), Path(folder) / "snaps"),
        )
        diff = timed("mix diff before/after", lambda: lineage.diff_snapshots(before, after, store))
        print(f"diff counts: {diff.counts()}")


if __name__ == "__main__":
    main()
