"""Undo benchmark: bulk actions over the Alpaca no-input file (31,323 rows) and their conflict-checked undo/redo.

    python bench/undo_bench.py

Prints one line per figure (wall and process CPU seconds: on a busy shared machine wall time inflates). Uses a
temporary database; reads ../shared/data beside the repository.
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
from curation.store import Store, revisions  # noqa: E402
from curation.store.actions import UndoConflictError  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_noinput_instructions_31323.json"


def timed(label: str, fn: Callable[[], object]) -> object:
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s wall, {time.process_time() - cpu:.2f} s cpu")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        rows = importers.import_file(store, DATA, "alpaca").rows
        ids = list(range(1, rows + 1))
        bulk = timed(
            f"bulk approve {rows:,} rows", lambda: revisions.set_status(store, "approved", author="a", ids=ids)
        )
        revisions.set_status(store, "rejected", author="b", ids=ids[::100], reason="later review")

        def refused() -> int:
            try:
                revisions.undo_action(store, bulk.action_id, author="a")
            except UndoConflictError as err:
                return len(err.rows)
            raise AssertionError("the undo should have been refused")

        print(f"conflicting rows reported: {timed('undo refused (conflict check and report)', refused):,}")
        undo = timed(
            "undo of the unchanged rows",
            lambda: revisions.undo_action(store, bulk.action_id, author="a", skip_changed=True),
        )
        print(f"rows restored: {undo.rows:,}; rows kept: {len(undo.skipped):,}")
        timed("redo", lambda: revisions.redo_action(store, bulk.action_id, author="a"))
        tag = timed(f"bulk tag {rows:,} rows", lambda: revisions.set_tag(store, "reviewed", True, author="a", ids=ids))
        timed("undo of the bulk tag", lambda: revisions.undo_action(store, tag.action_id, author="a"))


if __name__ == "__main__":
    main()
