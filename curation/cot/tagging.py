"""CoT tagging over the store: the scoring job (incremental, cancellable) and manual tag decisions.

Scores are kept for every scored row; auto tags follow the chosen threshold. Manual decisions are revisions
(undoable) and always win: rows with one are never re-tagged automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from curation.cot import detector as cot
from curation.cot.batch import score_rows
from curation.filters import ExampleFilter
from curation.jobs import JobCancelled, JobContext
from curation.store import Store, examples, revisions
from curation.store import cot as cot_store
from curation.store.changes import MANUAL_META
from curation.store.revisions import ActionResult

JOB_KIND = "cot-tag"
CHUNK = 5000


def score_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Detector output for rows (id, instruction, input, output, version; messages optional) as cot_scores rows."""
    turns = rows["messages"] if "messages" in rows else [None] * len(rows)
    found = score_rows(list(zip(rows["instruction"], rows["input"], rows["output"], turns, strict=True)))
    return pd.DataFrame(
        {
            "example_id": rows["id"].astype("int64"),
            "score": [score for score, _ in found],
            "signals": [signals for _, signals in found],
            "example_version": rows["version"].astype("int64"),
        }
    )


def tag_rows(
    store: Store,
    *,
    threshold: float = cot.DEFAULT_THRESHOLD,
    flt: ExampleFilter | None = None,
    rescore: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score the rows that need it (new or edited; all with `rescore`), then apply the threshold to auto tags.

    `progress(done, total)` is called after each chunk; if it raises JobCancelled the scores saved so far
    are kept, the threshold is applied to them, and the result says `cancelled`.
    """
    threshold = cot.check_threshold(threshold)
    total = cot_store.count_to_score(store, flt, rescore=rescore)
    done, last_id, cancelled = 0, 0, False
    try:
        while done < total:
            rows = cot_store.rows_to_score(store, flt, rescore=rescore, after_id=last_id, limit=CHUNK)
            if rows.empty:
                break
            done += cot_store.save_scores(store, score_frame(rows))
            last_id = int(rows["id"].iloc[-1])
            if progress:
                progress(done, total)
    except JobCancelled:
        cancelled = True
    applied = cot_store.apply_threshold(store, threshold)
    return {"scored": done, "to_score": total, "threshold": threshold, "cancelled": cancelled, **applied}


def tag_job(
    threshold: float = cot.DEFAULT_THRESHOLD, flt: ExampleFilter | None = None, rescore: bool = False
) -> Callable[[JobContext], dict[str, Any]]:
    """A JobRunner function that runs `tag_rows` with progress and cancel."""
    cot.check_threshold(threshold)

    def run(ctx: JobContext) -> dict[str, Any]:
        def report(done: int, total: int) -> None:
            ctx.progress(done, total, f"scored {done:,} of {total:,} rows")

        return tag_rows(ctx.store, threshold=threshold, flt=flt, rescore=rescore, progress=report)

    return run


def job_params(threshold: float, flt: ExampleFilter | None, rescore: bool) -> dict[str, Any]:
    return {"threshold": threshold, "filter": (flt or ExampleFilter()).to_dict(), "rescore": rescore}


def set_manual(
    store: Store,
    present: bool,
    *,
    author: str,
    ids: list[int] | None = None,
    flt: ExampleFilter | None = None,
) -> ActionResult:
    """Tag (or untag) rows as CoT by hand: one undoable action. Rows that already agreed are recorded too (an auto
    tag becomes manual; an untagged row becomes manually 'not CoT'), so the auto tagger leaves them alone; undo
    returns each row to its earlier state, auto tag and score included."""
    if (ids is None) == (flt is None):
        raise ValueError("pass exactly one of ids or flt")
    with store.transaction():
        if ids is None:
            ids = examples.fetch(store, flt, columns=("id",))["id"].astype("int64").tolist()
        frame = pd.DataFrame(
            {"example_id": sorted(set(ids)), "field": cot_store.FIELD, "new_value": "1" if present else "0"}
        ).assign(new_meta=MANUAL_META)
        return revisions.apply_changes(store, frame, kind="cot-manual", author=author)
