"""Judge rubrics and ratings: the rubric prompts, and per rubric one score + reason per example, kept as the
`judge` signal (variant = rubric name, evidence {"reason", "model", "job_id"}) in the signals store."""

from __future__ import annotations

import pandas as pd

from curation.filters import JUDGE_SIGNAL, ExampleFilter
from curation.store import examples
from curation.store import signals as signals_store
from curation.store.core import Store

SIGNAL = JUDGE_SIGNAL


def save_rubric(store: Store, name: str, prompt: str) -> None:
    """Create or replace a rubric (its ratings stay; re-rate to refresh them)."""
    with store.transaction():
        store.execute("INSERT OR REPLACE INTO rating_rubrics (name, prompt) VALUES (?, ?)", [name, prompt])


def rubrics(store: Store) -> dict[str, str]:
    return dict(store.query_rows("SELECT name, prompt FROM rating_rubrics ORDER BY name"))


def save_ratings(
    store: Store,
    rubric: str,
    rows: list[tuple[int, float | None, str]],
    model: str,
    job_id: int | None,
    run_id: int | None = None,
) -> int:
    """Store (example_id, score, reason) for `rubric`; a newer rating of the same row replaces the older one."""
    if not rows:
        return 0
    ids = [int(r[0]) for r in rows]
    versions = dict(store.query_rows("SELECT id, version FROM examples WHERE list_contains(?, id)", [ids]))
    evidence = {"model": model, "job_id": None if job_id is None else int(job_id)}
    scored = [
        signals_store.Scored(
            int(i), int(versions.get(int(i), 1)), None if s is None else float(s), None, {"reason": reason, **evidence}
        )
        for i, s, reason in rows
    ]
    return signals_store.save(store, SIGNAL, rubric, run_id, scored)


def ratings(store: Store, rubric: str, flt: ExampleFilter | None = None) -> pd.DataFrame:
    """(example_id, score, reason, model, job_id) of the rows matching `flt` rated under `rubric`."""
    where, params = examples.where_clause(flt or ExampleFilter())
    return store.query_df(
        "SELECT s.example_id, s.score, s.evidence->>'reason' AS reason, s.evidence->>'model' AS model, "
        "TRY_CAST(s.evidence->>'job_id' AS BIGINT) AS job_id FROM signals s "
        f"JOIN examples e ON e.id = s.example_id WHERE s.name = ? AND s.variant = ? AND {where} ORDER BY s.example_id",
        [SIGNAL, rubric, *params],
    )


def unrated_ids(store: Store, rubric: str, flt: ExampleFilter) -> list[int]:
    """Ids matching `flt` without a rating under `rubric` (a resumed rating job skips the rest)."""
    where, params = examples.where_clause(flt)
    rows = store.query_rows(
        f"SELECT e.id FROM examples e WHERE {where} AND e.id NOT IN "
        "(SELECT example_id FROM signals WHERE name = ? AND variant = ?) ORDER BY e.id",
        [*params, SIGNAL, rubric],
    )
    return [int(r[0]) for r in rows]


def ids_below(store: Store, rubric: str, threshold: float, flt: ExampleFilter | None = None) -> list[int]:
    """Ids matching `flt` whose score under `rubric` is below `threshold` (unrated rows are not included)."""
    where, params = examples.where_clause(flt or ExampleFilter())
    rows = store.query_rows(
        f"SELECT e.id FROM examples e JOIN signals s ON s.example_id = e.id WHERE {where} "
        "AND s.name = ? AND s.variant = ? AND s.score < ? ORDER BY e.id",
        [*params, SIGNAL, rubric, float(threshold)],
    )
    return [int(r[0]) for r in rows]


def rated_rubrics(store: Store) -> list[str]:
    """Rubrics that have at least one rating (the choices of a rating filter)."""
    return signals_store.variants(store, SIGNAL)
