"""SQL for the signals store: a score / label / evidence per (row, signal name, variant), and the runs behind them.

A signal is computed on one version of a row (`example_version`); a row edited since is *stale* and is scored
again by the next run, while unchanged rows are skipped unless the run rescores. Every operation (CoT detector,
judge ratings, contamination, language ID ...) keeps its results here, so one filter clause, one job, one CLI and
one page panel serve them all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from curation.filters import ExampleFilter
from curation.store import examples
from curation.store.core import Store

TEXT_FIELDS = ("instruction", "input", "output")  # what a signal is computed from
ROW_COLUMNS = "e.id, e.instruction, e.input, e.output, CAST(e.messages AS VARCHAR) AS messages, e.meta, e.version"


@dataclass(frozen=True)
class Scored:
    """One row's result as stored: a Signal plus the row version it was computed on."""

    example_id: int
    version: int
    score: float | None = None
    label: str | None = None
    evidence: dict[str, Any] | list[Any] | None = None


def _stale(name: str, variant: str, rescore: bool) -> tuple[str, list[Any]]:
    """Condition on `examples e` for rows without a current signal (never scored, or edited since); all with rescore.

    NOT EXISTS, not a LEFT JOIN: duckdb 2.0 ignored the LIMIT of `LEFT JOIN ... WHERE s.x IS NULL OR ... LIMIT n`
    (every row came back in one chunk)."""
    return (
        "(? OR NOT EXISTS (SELECT 1 FROM signals s WHERE s.example_id = e.id AND s.name = ? AND s.variant = ? "
        "AND s.example_version = e.version))",
        [bool(rescore), name, variant],
    )


# -- runs ------------------------------------------------------------------------------------------------------
def create_run(
    store: Store,
    name: str,
    variant: str = "",
    params: dict[str, Any] | None = None,
    *,
    author: str | None = None,
    job_id: int | None = None,
) -> int:
    """Record the start of a scoring run; returns its id."""
    run_id = store.next_id("seq_signal_runs")
    store.execute(
        "INSERT INTO signal_runs (id, name, variant, params, job_id, author) VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, name, variant, json.dumps(params or {}, default=str), job_id, author],
    )
    return run_id


def finish_run(store: Store, run_id: int, counts: dict[str, Any]) -> None:
    """Record a run's counts (scored, skipped, cancelled ...) and its end time."""
    store.execute(
        "UPDATE signal_runs SET counts = ?, finished_at = now() WHERE id = ?", [json.dumps(counts), int(run_id)]
    )


def get_run(store: Store, run_id: int) -> dict[str, Any] | None:
    rows = store.query_dicts("SELECT * FROM signal_runs WHERE id = ?", [int(run_id)])
    if not rows:
        return None
    row = rows[0]
    for key in ("params", "counts"):
        row[key] = json.loads(row[key]) if isinstance(row[key], str) else (row[key] or {})
    return row


def list_runs(store: Store, name: str | None = None, limit: int = 50) -> pd.DataFrame:
    """Recent runs (of one signal, or all), newest first."""
    cond, params = ("name = ?", [name]) if name else ("TRUE", [])
    return store.query_df(
        "SELECT id, name, variant, params, counts, job_id, author, created_at, finished_at FROM signal_runs "
        f"WHERE {cond} ORDER BY id DESC LIMIT ?",
        [*params, int(limit)],
    )


# -- writing -----------------------------------------------------------------------------------------------------
def save(store: Store, name: str, variant: str, run_id: int | None, scored: Sequence[Scored]) -> int:
    """Upsert results for (row, name, variant); a newer result replaces the older one. Returns rows written."""
    if not scored:
        return 0
    frame = pd.DataFrame(
        {
            "example_id": [int(s.example_id) for s in scored],
            "score": pd.array([s.score for s in scored], dtype="Float64"),
            "label": pd.array([s.label for s in scored], dtype="string"),
            "evidence": [None if s.evidence is None else json.dumps(s.evidence, ensure_ascii=False) for s in scored],
            "example_version": [int(s.version) for s in scored],
        }
    )
    with store.transaction(), store.registered("_signals_new", frame) as cur:
        cur.execute(
            "INSERT OR REPLACE INTO signals (example_id, name, variant, score, label, evidence, example_version, "
            "run_id, scored_at) SELECT example_id, ?, ?, score, label, CAST(evidence AS JSON), example_version, ?, "
            "now() FROM _signals_new",
            [name, variant, run_id],
        ).fetchall()
    return len(frame)


def delete(store: Store, name: str, variant: str | None = None) -> int:
    """Forget every stored result of a signal (one variant, or all); returns rows deleted."""
    cond, params = ("AND variant = ?", [variant]) if variant is not None else ("", [])
    with store.transaction():
        return int(store.execute(f"DELETE FROM signals WHERE name = ? {cond}", [name, *params]) or 0)


# -- what to score -----------------------------------------------------------------------------------------------
def count_pending(
    store: Store, name: str, variant: str, flt: ExampleFilter | None = None, *, rescore: bool = False
) -> int:
    """Rows matching the filter with no signal yet, or edited since scoring (all with rescore)."""
    where, params = examples.where_clause(flt or ExampleFilter())
    stale, sparams = _stale(name, variant, rescore)
    return int(store.query_value(f"SELECT count(*) FROM examples e WHERE {where} AND {stale}", [*params, *sparams]))


def pending_rows(
    store: Store,
    name: str,
    variant: str,
    flt: ExampleFilter | None = None,
    *,
    rescore: bool = False,
    after_id: int = 0,
    limit: int = 1000,
) -> pd.DataFrame:
    """The next chunk (by id, after `after_id`) of rows to score: id, instruction, input, output, messages, meta,
    version."""
    where, params = examples.where_clause(flt or ExampleFilter())
    stale, sparams = _stale(name, variant, rescore)
    sql = f"SELECT {ROW_COLUMNS} FROM examples e WHERE {where} AND e.id > ? AND {stale} ORDER BY e.id LIMIT ?"
    return store.query_df(sql, [*params, int(after_id), *sparams, int(limit)])


# -- reading -----------------------------------------------------------------------------------------------------
def results(store: Store, name: str, variant: str = "", flt: ExampleFilter | None = None) -> pd.DataFrame:
    """(example_id, score, label, evidence (parsed), example_version, current_version, run_id) of matching rows."""
    where, params = examples.where_clause(flt or ExampleFilter())
    frame = store.query_df(
        "SELECT s.example_id, s.score, s.label, CAST(s.evidence AS VARCHAR) AS evidence, s.example_version, "
        "e.version AS current_version, s.run_id FROM signals s JOIN examples e ON e.id = s.example_id "
        f"WHERE s.name = ? AND s.variant = ? AND {where} ORDER BY s.example_id",
        [name, variant, *params],
    )
    frame["evidence"] = [json.loads(v) if isinstance(v, str) else None for v in frame["evidence"]]
    return frame


def evidence_of(store: Store, name: str, variant: str, example_id: int) -> Any:
    """The stored evidence of one row (None if it was never scored)."""
    value = store.query_value(
        "SELECT CAST(evidence AS VARCHAR) FROM signals WHERE name = ? AND variant = ? AND example_id = ?",
        [name, variant, int(example_id)],
    )
    return json.loads(value) if value else None


def catalog(store: Store) -> pd.DataFrame:
    """Every stored (name, variant): rows, scored (non-null score), labels, stale rows, last run."""
    return store.query_df(
        "SELECT s.name, s.variant, count(*) AS rows, count(s.score) AS scored, count(DISTINCT s.label) AS labels, "
        "count(*) FILTER (WHERE s.example_version <> e.version) AS stale, max(s.run_id) AS last_run "
        "FROM signals s JOIN examples e ON e.id = s.example_id GROUP BY ALL ORDER BY s.name, s.variant"
    )


def variants(store: Store, name: str) -> list[str]:
    """The variants of a signal that have results."""
    rows = store.query_rows("SELECT DISTINCT variant FROM signals WHERE name = ? ORDER BY variant", [name])
    return [r[0] for r in rows]


def histogram(
    store: Store,
    name: str,
    variant: str = "",
    flt: ExampleFilter | None = None,
    *,
    low: float = 0.0,
    high: float = 1.0,
    bins: int = 20,
) -> pd.DataFrame:
    """Scored rows per score bin over [low, high]: (bin_start, bin_end, count), every bin present."""
    if not high > low or bins < 1:
        raise ValueError(f"histogram needs high > low and bins >= 1; got {low}, {high}, {bins}")
    where, params = examples.where_clause(flt or ExampleFilter())
    width = (high - low) / bins
    counts = store.query_df(
        "SELECT greatest(0, least(CAST(floor((s.score - ?) / ?) AS INTEGER), ? - 1)) AS bin, count(*) AS count "
        "FROM signals s JOIN examples e ON e.id = s.example_id "
        f"WHERE s.name = ? AND s.variant = ? AND s.score IS NOT NULL AND {where} GROUP BY 1",
        [float(low), float(width), int(bins), name, variant, *params],
    )
    frame = pd.DataFrame({"bin": range(bins)}).merge(counts, on="bin", how="left").fillna({"count": 0})
    frame["bin_start"] = low + frame["bin"] * width
    frame["bin_end"] = low + (frame["bin"] + 1) * width
    return frame[["bin_start", "bin_end", "count"]].astype({"count": "int64"})


def label_counts(store: Store, name: str, variant: str = "", flt: ExampleFilter | None = None) -> pd.DataFrame:
    """(label, count) of matching rows, most frequent first (rows without a label count as '')."""
    where, params = examples.where_clause(flt or ExampleFilter())
    return store.query_df(
        "SELECT coalesce(s.label, '') AS label, count(*) AS count FROM signals s "
        f"JOIN examples e ON e.id = s.example_id WHERE s.name = ? AND s.variant = ? AND {where} "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        [name, variant, *params],
    )


def carry_forward(store: Store, action_id: int) -> int:
    """Keep signals current across an action that changed no text (tags, status): rows it moved from the scored
    version to the next keep their signals, instead of being rescored for a change the scores do not depend on."""
    return int(
        store.execute(
            "UPDATE signals SET example_version = e.version FROM examples e WHERE e.id = signals.example_id "
            "AND signals.example_version = e.version - 1 "
            "AND signals.example_id IN (SELECT example_id FROM revisions WHERE action_id = ?) "
            "AND signals.example_id NOT IN (SELECT example_id FROM revisions WHERE action_id = ? "
            "AND list_contains(?, field))",
            [int(action_id), int(action_id), list(TEXT_FIELDS)],
        )
        or 0
    )


def run_ids(store: Store, name: str, variant: str, ids: Sequence[int]) -> list[int]:
    """The runs whose signals the given rows hold (for an action's lineage)."""
    rows = store.query_rows(
        "SELECT DISTINCT run_id FROM signals WHERE name = ? AND variant = ? AND list_contains(?, example_id) "
        "AND run_id IS NOT NULL ORDER BY 1",
        [name, variant, [int(i) for i in ids]],
    )
    return [int(r[0]) for r in rows]


def run_counts(store: Store, run_id: int) -> tuple[int, int]:
    """(rows with a score, rows without one) that a run wrote and that still hold its result."""
    row = store.query_rows("SELECT count(score), count(*) - count(score) FROM signals WHERE run_id = ?", [int(run_id)])[
        0
    ]
    return int(row[0]), int(row[1])
