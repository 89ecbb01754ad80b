"""SQL for CoT tagging: detector scores, auto tags materialised at a threshold, manual decisions protected.

Auto tags are rows `(example_id, 'cot', 'auto', score, detail)` in example_tags, recomputed from the `cot` signal
(the signals table, evidence {"signals": [...]}); `apply_threshold` does it as one undoable action.
A row is *protected* (manual) when its `cot` tag is not auto, or its last `tag:cot` revision removed the tag by
hand: the auto tagger never adds, removes or rescores its tag. Undoing the manual decision makes it auto again.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from curation import config, identity
from curation.filters import ExampleFilter
from curation.store import changes as changes_store
from curation.store import examples
from curation.store import signals as signals_store
from curation.store.core import Store

TAG = "cot"
FIELD = "tag:cot"
THRESHOLD_KIND = "cot-threshold"
AUTO_META = json.dumps({"source": "auto"})  # an auto tag removed by the threshold: the row stays the detector's
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
SIGNAL = "cot"
# The detector's scores as the old cot_scores shape (example_id, score, signals, example_version).
_SCORES = (
    "(SELECT example_id, score, CAST(evidence->'signals' AS JSON) AS signals, example_version, scored_at "
    "FROM signals WHERE name = 'cot' AND variant = '')"
)


def count_to_score(store: Store, flt: ExampleFilter | None = None, *, rescore: bool = False) -> int:
    """Rows matching the filter that have no score yet, or were edited since scoring (all with rescore)."""
    where, params = examples.where_clause(flt or ExampleFilter())
    sql = f"SELECT count(*) FROM examples e LEFT JOIN {_SCORES} c ON c.example_id = e.id WHERE {where} AND {_PENDING}"
    return int(store.query_value(sql, [*params, bool(rescore)]))


def rows_to_score(
    store: Store, flt: ExampleFilter | None = None, *, rescore: bool = False, after_id: int = 0, limit: int = 5000
) -> pd.DataFrame:
    """The next chunk (by id, after `after_id`) of rows to score: id, instruction, input, output, messages, version."""
    where, params = examples.where_clause(flt or ExampleFilter())
    sql = (
        "SELECT e.id, e.instruction, e.input, e.output, CAST(e.messages AS VARCHAR) AS messages, e.version "
        "FROM examples e "
        f"LEFT JOIN {_SCORES} c ON c.example_id = e.id WHERE {where} AND e.id > ? AND {_PENDING} "
        "ORDER BY e.id LIMIT ?"
    )
    return store.query_df(sql, [*params, int(after_id), bool(rescore), int(limit)])


def save_scores(store: Store, scores: pd.DataFrame, run_id: int | None = None) -> int:
    """Upsert (example_id, score, signals JSON text, example_version) rows as the `cot` signal; returns rows written."""
    if scores.empty:
        return 0
    scored = [
        signals_store.Scored(int(i), int(v), float(sc), None, {"signals": json.loads(sg) if sg else []})
        for i, sc, sg, v in zip(
            scores["example_id"], scores["score"], scores["signals"], scores["example_version"], strict=True
        )
    ]
    return signals_store.save(store, SIGNAL, "", run_id, scored)


def threshold_changes(store: Store, threshold: float) -> pd.DataFrame:
    """(example_id, field, new_value, new_meta) that put the auto `cot` tags where the threshold says: every
    unprotected scored row with score >= threshold tagged (auto, with its score and signals), no other auto tag."""
    return store.query_df(
        f"""
        WITH want AS (
            SELECT c.example_id, CAST(json_object('source', 'auto', 'score', c.score, 'detail', c.signals) AS VARCHAR)
                AS meta FROM {_SCORES} c
            WHERE c.score >= ? AND c.example_id NOT IN ({PROTECTED})
              AND c.example_id NOT IN (SELECT example_id FROM example_tags WHERE tag = 'cot' AND source <> 'auto')
        )
        SELECT example_id, ? AS field, '1' AS new_value, meta AS new_meta FROM want
        UNION ALL
        SELECT t.example_id, ?, '0', ? FROM example_tags t
        WHERE t.tag = 'cot' AND t.source = 'auto' AND t.example_id NOT IN ({PROTECTED})
          AND t.example_id NOT IN (SELECT example_id FROM want)
        ORDER BY 1
        """,
        [float(threshold), FIELD, FIELD, AUTO_META],
    )


def apply_threshold(store: Store, threshold: float, *, author: str | None = None) -> dict[str, int]:
    """Re-materialise auto `cot` tags at `threshold` as one undoable action (kind 'cot-threshold'): every
    unprotected scored row with score >= threshold is tagged, and no others. Returns counts and the action id."""
    identity.require(THRESHOLD_KIND)  # it rewrites auto tags: a curator's change, like running the detector
    with store.transaction():
        changes = threshold_changes(store, threshold)
        result = changes_store.apply_changes(
            store,
            changes,
            kind=THRESHOLD_KIND,
            author=author or config.get("author"),
            description=f"CoT threshold {float(threshold):g}",
            params={"threshold": float(threshold), "signal": SIGNAL, "keep_version": True},
            bump_version=False,
        )
        auto = store.query_value("SELECT count(*) FROM example_tags WHERE tag = 'cot' AND source = 'auto'")
        protected = store.query_value(f"SELECT count(*) FROM ({PROTECTED})")
    return {"auto_tagged": int(auto), "protected": int(protected), "changed": result.rows,
            "action_id": result.action_id}  # fmt: skip


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
        LEFT JOIN {_SCORES} c ON c.example_id = e.id
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
        FROM examples e JOIN {_SCORES} c ON c.example_id = e.id
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
        f"FROM examples e JOIN {_SCORES} c ON c.example_id = e.id WHERE {where} GROUP BY 1",
        [int(bins), int(bins), *params],
    )
    frame = pd.DataFrame({"bin": range(bins)}).merge(counts, on="bin", how="left").fillna({"count": 0})
    frame["bin_start"] = frame["bin"] / bins
    frame["bin_end"] = (frame["bin"] + 1) / bins
    return frame[["bin_start", "bin_end", "count"]].astype({"count": "int64"})


def signals_of(store: Store, example_id: int) -> list[dict[str, Any]]:
    """The fired signals stored for one row (empty if it was never scored)."""
    evidence = signals_store.evidence_of(store, SIGNAL, "", example_id)
    return list((evidence or {}).get("signals") or [])


def existing_ids(store: Store, ids: list[int]) -> list[int]:
    """The given ids that exist as examples."""
    rows = store.query_rows("SELECT id FROM examples WHERE list_contains(?, id) ORDER BY id", [[int(i) for i in ids]])
    return [r[0] for r in rows]
