"""Scoring many rows on every core: large batches go to a process pool, small ones are scored inline.

The detector is pure Python and CPU-bound, so threads would not help. The pool uses the `spawn` start method
(safe inside a threaded server, unlike fork), is created on first use and reused; results are identical to
scoring inline and come back in order.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from curation.cot.detector import detect_row

MIN_PARALLEL = 2000  # below this, starting or feeding workers costs more than it saves
_pool: ProcessPoolExecutor | None = None


def _workers() -> int:
    return min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8)


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    return _pool


def _score(rows: list[tuple[Any, ...]]) -> list[tuple[float, str]]:
    found = (detect_row(*row) for row in rows)
    return [(d.score, json.dumps(d.detail(), ensure_ascii=False)) for d in found]


def score_rows(rows: list[tuple[Any, ...]]) -> list[tuple[float, str]]:
    """(score, signals JSON) per (instruction, input, output, messages) row, in order."""
    workers = _workers()
    if workers < 2 or len(rows) < MIN_PARALLEL:
        return _score(rows)
    size = -(-len(rows) // workers)
    parts = [rows[i : i + size] for i in range(0, len(rows), size)]
    try:
        return [scored for part in _get_pool(workers).map(_score, parts) for scored in part]
    except (BrokenProcessPool, OSError):  # a worker could not start or died: the same scores, inline
        _reset()
        return _score(rows)


def _reset() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool = None
