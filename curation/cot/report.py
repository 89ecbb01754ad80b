"""Reasoning report over the store: rationale length statistics and rows whose rationale concludes a
different answer than their answer field."""

from __future__ import annotations

from typing import Any

import numpy as np

from curation.cot.formats import check_rows
from curation.filters import ExampleFilter
from curation.store import Store, examples, revisions
from curation.store.revisions import ActionResult

LENGTH_BINS = (0, 10, 20, 40, 80, 160, 320, 640, 1280)
CONFLICT_TAG = "answer-conflict"


def reasoning_report(store: Store, flt: ExampleFilter | None = None, *, max_conflicts: int = 500) -> dict[str, Any]:
    """Rows with a separable rationale, rationale length (words) statistics and a histogram, answer conflicts."""
    frame = examples.fetch(store, flt, columns=("id", "output", "meta", "messages"))
    conflicts, lengths = check_rows(frame.to_dict("records"))
    words = np.asarray(lengths, dtype=float)
    stats = (
        {
            "min": int(words.min()),
            "median": float(np.median(words)),
            "mean": round(float(words.mean()), 1),
            "p90": float(np.percentile(words, 90)),
            "max": int(words.max()),
        }
        if len(words)
        else {}
    )
    edges = [*LENGTH_BINS, max(LENGTH_BINS[-1], int(words.max()) if len(words) else 0) + 1]
    counts, _ = np.histogram(words, bins=edges)
    histogram = [
        {"from_words": int(lo), "to_words": int(hi), "rows": int(n)}
        for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    return {
        "rows": len(frame),
        "with_rationale": len(lengths),
        "rationale_words": stats,
        "histogram": histogram,
        "conflict_count": len(conflicts),
        "conflicts": conflicts[:max_conflicts],
    }


def tag_conflicts(store: Store, flt: ExampleFilter | None = None, *, author: str) -> ActionResult | None:
    """Tag every row of the filter whose rationale concludes a different answer `answer-conflict` (one undoable
    action); None when there is none."""
    ids = [c["id"] for c in reasoning_report(store, flt, max_conflicts=10**9)["conflicts"]]
    return revisions.set_tag(store, CONFLICT_TAG, True, author=author, ids=ids, kind="tag") if ids else None
