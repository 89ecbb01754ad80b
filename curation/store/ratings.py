"""Judge rubrics and ratings: one score + reason per example and rubric, side data beside the examples."""

from __future__ import annotations

import pandas as pd

from curation.filters import ExampleFilter
from curation.store import examples
from curation.store.core import Store


def save_rubric(store: Store, name: str, prompt: str) -> None:
    """Create or replace a rubric (its ratings stay; re-rate to refresh them)."""
    store.execute("INSERT OR REPLACE INTO rating_rubrics (name, prompt) VALUES (?, ?)", [name, prompt])


def rubrics(store: Store) -> dict[str, str]:
    return dict(store.query_rows("SELECT name, prompt FROM rating_rubrics ORDER BY name"))


def save_ratings(store: Store, rubric: str, rows: list[tuple[int, float | None, str]], model: str, job_id: int) -> int:
    """Store (example_id, score, reason) for `rubric`; a newer rating of the same row replaces the older one."""
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=["example_id", "score", "reason"]).assign(
        rubric=rubric, model=model, job_id=int(job_id)
    )
    with store.transaction(), store.registered("_new_ratings", frame) as cur:
        cur.execute(
            "INSERT OR REPLACE INTO example_ratings (example_id, rubric, score, reason, model, job_id) "
            "SELECT example_id, rubric, score, reason, model, job_id FROM _new_ratings"
        ).fetchall()
    return len(frame)


def ratings(store: Store, rubric: str, flt: ExampleFilter | None = None) -> pd.DataFrame:
    """(example_id, score, reason, model, job_id) of the rows matching `flt` rated under `rubric`."""
    where, params = examples.where_clause(flt or ExampleFilter())
    return store.query_df(
        "SELECT r.example_id, r.score, r.reason, r.model, r.job_id FROM example_ratings r "
        f"JOIN examples e ON e.id = r.example_id WHERE r.rubric = ? AND {where} ORDER BY r.example_id",
        [rubric, *params],
    )


def unrated_ids(store: Store, rubric: str, flt: ExampleFilter) -> list[int]:
    """Ids matching `flt` without a rating under `rubric` (a resumed rating job skips the rest)."""
    where, params = examples.where_clause(flt)
    rows = store.query_rows(
        f"SELECT e.id FROM examples e WHERE {where} AND e.id NOT IN "
        "(SELECT example_id FROM example_ratings WHERE rubric = ?) ORDER BY e.id",
        [*params, rubric],
    )
    return [int(r[0]) for r in rows]


def ids_below(store: Store, rubric: str, threshold: float, flt: ExampleFilter | None = None) -> list[int]:
    """Ids matching `flt` whose score under `rubric` is below `threshold` (unrated rows are not included)."""
    where, params = examples.where_clause(flt or ExampleFilter())
    rows = store.query_rows(
        f"SELECT e.id FROM examples e JOIN example_ratings r ON r.example_id = e.id WHERE {where} "
        "AND r.rubric = ? AND r.score < ? ORDER BY e.id",
        [*params, rubric, float(threshold)],
    )
    return [int(r[0]) for r in rows]


def rated_rubrics(store: Store) -> list[str]:
    """Rubrics that have at least one rating (the choices of a rating filter)."""
    return [r[0] for r in store.query_rows("SELECT DISTINCT rubric FROM example_ratings ORDER BY rubric")]
