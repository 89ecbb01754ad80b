"""SQL for CoT tagging: detector scores, auto tags materialised at a threshold, manual decisions protected.

Auto tags are rows `(example_id, 'cot', 'auto', score, detail)` in example_tags, recomputed from `cot_scores`.
A row is *protected* (manual) when its `cot` tag is not auto, or its last `tag:cot` revision removed the tag by
hand: the auto tagger never adds, removes or rescores its tag. Undoing the manual decision makes it auto again.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from curation import identity
from curation.filters import ExampleFilter
from curation.store import examples
from curation.store.core import Store

TAG = "cot"
FIELD = "tag:cot"
# Manual: a non-auto `cot` tag, or a latest `tag:cot` revision that removed the tag by hand (an undo that
# restored the auto state leaves neither, so the row is the detector's again).
PROTECTED = (
    "SELECT example_id FROM example_tags WHERE tag = 'cot' AND source <> 'auto' "
    "UNION SELECT example_id FROM revisions WHERE field = 'tag:cot' GROUP BY example_id "
    "HAVING arg_max_null(new_value, id) = '0' "
    "AND json_extract_string(arg_max_null(new_meta, id), '$.source') = 'manual'"
)
_TAGS = "SELECT example_id, min(source) AS source FROM example_tags WHERE tag = 'cot' GROUP BY example_id"
VIEWS = {
    "all": "TRUE",
    "above": "c.score >= ?",
    "below": "c.score < ?",
    "manual": "p.example_id IS NOT NULL",
    "disagree": "p.example_id IS NOT NULL AND ((t.example_id IS NOT NULL) <> (c.score >= ?))",
}
_PENDING = "(? OR c.example_id IS NULL OR c.example_version <> e.version)"


def count_to_score(store: Store, flt: ExampleFilter | None = None, *, rescore: bool = False) -> int:
    """Rows matching the filter that have no score yet, or were edited since scoring (all with rescore)."""
    where, params = examples.where_clause(flt or ExampleFilter())
    sql = f"SELECT count(*) FROM examples e LEFT JOIN cot_scores c ON c.example_id = e.id WHERE {where} AND {_PENDING}"
    return int(store.query_value(sql, [*params, bool(rescore)]))


def rows_to_score(
    store: Store, flt: ExampleFilter | None = None, *, rescore: bool = False, after_id: int = 0, limit: int = 5000
) -> pd.DataFrame:
    """The next chunk (by id, after `after_id`) of rows to score: id, instruction, input, output, messages, version."""
    where, params = examples.where_clause(flt or ExampleFilter())
    sql = (
        "SELECT e.id, e.instruction, e.input, e.output, CAST(e.messages AS VARCHAR) AS messages, e.version "
        "FROM examples e "
        f"LEFT JOIN cot_scores c ON c.example_id = e.id WHERE {where} AND e.id > ? AND {_PENDING} "
        "ORDER BY e.id LIMIT ?"
    )
    return store.query_df(sql, [*params, int(after_id), bool(rescore), int(limit)])


def save_scores(store: Store, scores: pd.DataFrame) -> int:
    """Upsert (example_id, score, signals JSON text, example_version) rows; returns rows written."""
    if scores.empty:
        return 0
    frame = scores[["example_id", "score", "signals", "example_version"]]
    with store.transaction(), store.registered("_cot_new", frame) as cur:
        cur.execute("DELETE FROM cot_scores WHERE example_id IN (SELECT example_id FROM _cot_new)").fetchall()
        cur.execute(
            "INSERT INTO cot_scores (example_id, score, signals, example_version) "
            "SELECT example_id, score, CAST(signals AS JSON), example_version FROM _cot_new"
        ).fetchall()
    return len(frame)


def apply_threshold(store: Store, threshold: float) -> dict[str, int]:
    """Re-materialise auto `cot` tags: every unprotected scored row with score >= threshold, and no others."""
    identity.require("cot-threshold")  # it rewrites auto tags: a curator's change, like running the detector
    with store.transaction():
        store.execute(
            f"DELETE FROM example_tags WHERE tag = 'cot' AND source = 'auto' AND example_id NOT IN ({PROTECTED})"
        )
        store.execute(
            "INSERT INTO example_tags (example_id, tag, source, score, detail) "
            "SELECT c.example_id, 'cot', 'auto', c.score, c.signals FROM cot_scores c "
            f"WHERE c.score >= ? AND c.example_id NOT IN ({PROTECTED}) "
            "AND c.example_id NOT IN (SELECT example_id FROM example_tags WHERE tag = 'cot')",
            [float(threshold)],
        )
        auto = store.query_value("SELECT count(*) FROM example_tags WHERE tag = 'cot' AND source = 'auto'")
        protected = store.query_value(f"SELECT count(*) FROM ({PROTECTED})")
    return {"auto_tagged": int(auto), "protected": int(protected)}


def summary(store: Store, threshold: float, flt: ExampleFilter | None = None) -> dict[str, int]:
    """Counts for the filter: scored, above threshold, tagged (auto/manual), and detector vs manual decisions."""
    where, params = examples.where_clause(flt or ExampleFilter())
    sql = f"""
        SELECT count(*) AS rows, count(c.example_id) AS scored,
               count(*) FILTER (WHERE c.score >= ?) AS above_threshold,
               count(*) FILTER (WHERE t.source = 'auto') AS auto_tagged,
               count(*) FILTER (WHERE t.example_id IS NOT NULL) AS tagged,
               count(*) FILTER (WHERE p.example_id IS NOT NULL) AS manual,
               count(*) FILTER (WHERE p.example_id IS NOT NULL AND t.example_id IS NOT NULL AND c.score >= ?)
                   AS manual_cot_detected,
               count(*) FILTER (WHERE p.example_id IS NOT NULL AND t.example_id IS NOT NULL AND c.score < ?)
                   AS manual_cot_missed,
               count(*) FILTER (WHERE p.example_id IS NOT NULL AND t.example_id IS NULL AND c.score >= ?)
                   AS manual_not_cot_detected,
               count(*) FILTER (WHERE p.example_id IS NOT NULL AND t.example_id IS NULL AND c.score < ?)
                   AS manual_not_cot_rejected
        FROM examples e
        LEFT JOIN cot_scores c ON c.example_id = e.id
        LEFT JOIN ({_TAGS}) t ON t.example_id = e.id
        LEFT JOIN ({PROTECTED}) p ON p.example_id = e.id
        WHERE {where}
    """
    row = store.query_dicts(sql, [float(threshold)] * 5 + params)[0]
    return {k: int(v or 0) for k, v in row.items()}


def scored_page(
    store: Store,
    flt: ExampleFilter | None = None,
    *,
    threshold: float,
    view: str = "all",
    limit: int = 50,
    offset: int = 0,
) -> pd.DataFrame:
    """Scored rows, highest score first: id, score, detector verdict, tag state, signals, text.

    `view`: all | above (score >= threshold) | below | manual (rows with a manual decision) |
    disagree (manual decision differs from the detector at this threshold).
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {tuple(VIEWS)}; got {view!r}")
    where, params = examples.where_clause(flt or ExampleFilter())
    view_params = [float(threshold)] * VIEWS[view].count("?")
    sql = f"""
        SELECT e.id, c.score, c.score >= ? AS detected,
               CASE WHEN t.example_id IS NULL AND p.example_id IS NOT NULL THEN 'not cot (manual)'
                    WHEN t.example_id IS NULL THEN ''
                    WHEN t.source = 'auto' THEN 'cot (auto)' ELSE 'cot (' || t.source || ')' END AS tag,
               c.signals, e.instruction, e.input, e.output, e.status
        FROM examples e JOIN cot_scores c ON c.example_id = e.id
        LEFT JOIN ({_TAGS}) t ON t.example_id = e.id
        LEFT JOIN ({PROTECTED}) p ON p.example_id = e.id
        WHERE {where} AND {VIEWS[view]}
        ORDER BY c.score DESC, e.id LIMIT ? OFFSET ?
    """
    frame = store.query_df(sql, [float(threshold), *params, *view_params, int(limit), int(offset)])
    frame["signals"] = [", ".join(s["name"] for s in json.loads(v or "[]")) for v in frame["signals"]]
    return frame


def score_histogram(store: Store, flt: ExampleFilter | None = None, bins: int = 20) -> pd.DataFrame:
    """Scored rows per score bin: (bin_start, bin_end, count), every bin present."""
    where, params = examples.where_clause(flt or ExampleFilter())
    counts = store.query_df(
        "SELECT least(CAST(floor(c.score * ?) AS INTEGER), ? - 1) AS bin, count(*) AS count "
        f"FROM examples e JOIN cot_scores c ON c.example_id = e.id WHERE {where} GROUP BY 1",
        [int(bins), int(bins), *params],
    )
    frame = pd.DataFrame({"bin": range(bins)}).merge(counts, on="bin", how="left").fillna({"count": 0})
    frame["bin_start"] = frame["bin"] / bins
    frame["bin_end"] = (frame["bin"] + 1) / bins
    return frame[["bin_start", "bin_end", "count"]].astype({"count": "int64"})


def signals_of(store: Store, example_id: int) -> list[dict[str, Any]]:
    """The fired signals stored for one row (empty if it was never scored)."""
    value = store.query_value("SELECT signals FROM cot_scores WHERE example_id = ?", [int(example_id)])
    return json.loads(value) if value else []


def existing_ids(store: Store, ids: list[int]) -> list[int]:
    """The given ids that exist as examples."""
    rows = store.query_rows("SELECT id FROM examples WHERE list_contains(?, id) ORDER BY id", [[int(i) for i in ids]])
    return [r[0] for r in rows]
