"""SQL for dedup: the embedding cache, dedup runs with their pairs and clusters, contamination matches."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from curation.store import actions, examples, team
from curation.store import signals as signals_store
from curation.store.core import Store

CLUSTER_SORTS = ("size", "score")
CONTAMINATION_SIGNAL = "contamination"  # matches are kept as this signal, variant = the run id
CONTAMINATED = "contaminated"


# -- embedding cache ---------------------------------------------------------------------------------------
def load_vectors(store: Store, model: str, scope: str, hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cached vectors for the given text hashes: (positions found, float32 matrix in that order)."""
    frame = pd.DataFrame({"pos": np.arange(len(hashes), dtype=np.int64), "text_hash": pd.Series(hashes, dtype=str)})
    with store.registered("_wanted_hashes", frame) as cur:
        rows = cur.execute(
            "SELECT w.pos, c.dim, c.vector FROM _wanted_hashes w JOIN embedding_cache c "
            "ON c.text_hash = w.text_hash AND c.model = ? AND c.scope = ? ORDER BY w.pos",
            [model, scope],
        ).fetchall()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    positions = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), rows[0][1])
    return positions, vectors


def save_vectors(store: Store, model: str, scope: str, hashes: list[str], vectors: np.ndarray) -> int:
    """Add vectors to the cache (existing keys are kept); returns rows offered."""
    if len(hashes) == 0:
        return 0
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    frame = pd.DataFrame(
        {
            "model": model,
            "scope": scope,
            "text_hash": pd.Series(hashes, dtype=object),
            "dim": vectors.shape[1],
            "vector": [row.tobytes() for row in vectors],
        }
    ).drop_duplicates("text_hash")
    with store.transaction(), store.registered("_new_vectors", frame) as cur:
        cur.execute(
            "INSERT OR IGNORE INTO embedding_cache (model, scope, text_hash, dim, vector) "
            "SELECT model, scope, text_hash, dim, vector::BLOB FROM _new_vectors"
        ).fetchall()
    return len(frame)


def cache_size(store: Store, model: str | None = None) -> int:
    sql, params = (
        ("SELECT count(*) FROM embedding_cache", [])
        if model is None
        else (
            "SELECT count(*) FROM embedding_cache WHERE model = ?",
            [model],
        )
    )
    return int(store.query_value(sql, params))


# -- runs ----------------------------------------------------------------------------------------------------
def create_run(store: Store, run: dict[str, Any], pairs: pd.DataFrame, members: pd.DataFrame) -> int:
    """Record a run with its pairs (a_id, b_id, score) and cluster members (cluster, example_id, keep,
    blocked_by, score); returns the run id."""
    with store.transaction():
        run_id = store.next_id("seq_dedup_runs")
        store.execute(
            "INSERT INTO dedup_runs (id, method, mode, scope, threshold, rule, params, job_id, row_count, "
            "pair_count, cluster_count, author) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                run["method"],
                run["mode"],
                run["scope"],
                float(run["threshold"]),
                run["rule"],
                json.dumps(run.get("params") or {}, default=str),
                run.get("job_id"),
                int(run.get("row_count", 0)),
                len(pairs),
                int(members["cluster"].nunique()) if len(members) else 0,
                run.get("author"),
            ],
        )
        if len(pairs):
            store.insert_df("dedup_pairs", pairs[["a_id", "b_id", "score"]].assign(run_id=run_id))
        if len(members):
            cols = ["cluster", "example_id", "keep", "blocked_by", "score"]
            store.insert_df("dedup_members", members.reindex(columns=cols).assign(run_id=run_id))
    return run_id


def get_run(store: Store, run_id: int) -> dict[str, Any] | None:
    """A run with its params, and `applied_undone_by` (the undo action) when its applied action was undone."""
    rows = store.query_dicts(
        "SELECT r.*, a.undone_by AS applied_undone_by FROM dedup_runs r LEFT JOIN actions a ON a.id = r.applied_action "
        "WHERE r.id = ?",
        [int(run_id)],
    )
    if not rows:
        return None
    run = rows[0]
    run["params"] = json.loads(run["params"]) if run["params"] else {}
    if run["applied_action"] is not None and not actions.is_undone(store, int(run["applied_action"])):
        run["applied_undone_by"] = None  # undone and then redone: the decisions are in effect again
    return run


def list_runs(store: Store, limit: int = 20, methods: list[str] | None = None) -> pd.DataFrame:
    """Recent runs, newest first, with whether their decisions are applied (and not undone)."""
    cond, params = ("list_contains(?, r.method)", [methods]) if methods else ("TRUE", [])
    runs = store.query_df(
        "SELECT r.id, r.method, r.mode, r.scope, r.threshold, r.rule, r.row_count, r.pair_count, r.cluster_count, "
        "r.applied_action, a.undone_by AS undone_by, r.created_at FROM dedup_runs r "
        f"LEFT JOIN actions a ON a.id = r.applied_action WHERE {cond} ORDER BY r.id DESC LIMIT ?",
        [*params, int(limit)],
    )
    redone = [
        i
        for i, action in runs["applied_action"].items()
        if pd.notna(action) and pd.notna(runs.at[i, "undone_by"]) and not actions.is_undone(store, int(action))
    ]
    runs.loc[redone, "undone_by"] = None  # undone and then redone: in effect again
    return runs


def run_pairs(store: Store, run_id: int, example_ids: list[int] | None = None) -> pd.DataFrame:
    """Pairs of a run (optionally only those among `example_ids`), highest score first."""
    if example_ids is None:
        return store.query_df(
            "SELECT a_id, b_id, score FROM dedup_pairs WHERE run_id = ? ORDER BY score DESC, a_id, b_id",
            [int(run_id)],
        )
    ids = [int(i) for i in example_ids]
    return store.query_df(
        "SELECT a_id, b_id, score FROM dedup_pairs WHERE run_id = ? AND list_contains(?, a_id) "
        "AND list_contains(?, b_id) ORDER BY score DESC, a_id, b_id",
        [int(run_id), ids, ids],
    )


def cluster_summary(
    store: Store, run_id: int, sort: str = "size", limit: int = 1000, search: str | None = None
) -> pd.DataFrame:
    """One line per cluster: size, members still in it, best score against the kept row, the kept row and its
    instruction. `search` keeps the clusters with a member whose instruction or input contains the text."""
    if sort not in CLUSTER_SORTS:
        raise ValueError(f"sort must be one of {CLUSTER_SORTS}; got {sort!r}")
    order = "size DESC, max_score DESC" if sort == "size" else "max_score DESC, size DESC"
    pattern = f"%{examples._escape_like(search.strip())}%" if search and search.strip() else None
    return store.query_df(
        f"""
        WITH m AS (SELECT * FROM dedup_members WHERE run_id = ?),
        found AS (
            SELECT DISTINCT m.cluster FROM m JOIN examples e ON e.id = m.example_id
            WHERE ? IS NULL OR e.instruction ILIKE ? ESCAPE '\\' OR e.input ILIKE ? ESCAPE '\\'
        )
        SELECT m.cluster, count(*) AS size, count(*) FILTER (WHERE NOT m.split) AS active,
               bool_and(m.accepted) AS accepted,
               max(m.score) FILTER (WHERE NOT m.keep AND NOT m.split) AS max_score,
               max(m.example_id) FILTER (WHERE m.keep) AS kept_id,
               any_value(e.instruction) FILTER (WHERE m.keep) AS kept_instruction
        FROM m JOIN found USING (cluster) JOIN examples e ON e.id = m.example_id
        GROUP BY m.cluster ORDER BY {order}, m.cluster LIMIT ?
        """,
        [int(run_id), pattern, pattern, pattern, int(limit)],
    )


def cluster_members(store: Store, run_id: int, cluster: int) -> pd.DataFrame:
    """Members of one cluster with their current text, status and origin; kept row first."""
    return store.query_df(
        "SELECT m.example_id AS id, m.keep, m.split, m.accepted, m.blocked_by, m.score, e.instruction, e.input, "
        "e.output, CAST(e.messages AS VARCHAR) AS messages, e.status, e.origin, e.source_row, s.name AS source, "
        "e.created_at FROM dedup_members m "
        "JOIN examples e ON e.id = m.example_id JOIN sources s ON s.id = e.source_id "
        "WHERE m.run_id = ? AND m.cluster = ? ORDER BY m.keep DESC, m.split, m.example_id",
        [int(run_id), int(cluster)],
    )


def set_kept(store: Store, run_id: int, cluster: int, example_id: int) -> int:
    """Make `example_id` the kept row of its cluster (it rejoins the cluster if it was split off).

    Every other member is then a duplicate of the new kept row only if the run found that pair: its score
    becomes the pair's score, and members without a pair are split off (nothing untrue is ever marked).
    Returns how many members were split off for that reason.
    """
    team.authorize(store, "dedup-review")
    params = {"run": int(run_id), "cluster": int(cluster), "kept": int(example_id)}
    with store.transaction():
        found = store.query_value(
            "SELECT count(*) FROM dedup_members WHERE run_id = $run AND cluster = $cluster AND example_id = $kept",
            params,
        )
        if not found:
            raise KeyError(f"example {example_id} is not in cluster {cluster} of dedup run {run_id}")
        unmatched = store.query_value(
            f"SELECT count(*) FROM ({_MEMBER_SCORES}) s JOIN dedup_members m ON m.run_id = $run "
            "AND m.example_id = s.member WHERE s.member <> $kept AND NOT m.split AND s.score IS NULL",
            params,
        )
        store.execute(
            "UPDATE dedup_members SET keep = (example_id = $kept), accepted = true, "
            "blocked_by = CASE WHEN example_id = $kept THEN NULL ELSE $kept END, "
            "score = CASE WHEN example_id = $kept THEN NULL ELSE s.score END, "
            "split = CASE WHEN example_id = $kept THEN false WHEN s.score IS NULL THEN true ELSE split END "
            f"FROM ({_MEMBER_SCORES}) s WHERE dedup_members.run_id = $run AND dedup_members.example_id = s.member",
            params,
        )
    return int(unmatched)


# Each member of cluster $cluster with the run's score for the pair (member, kept row $kept) in either
# orientation; NULL when the run found no such pair.
_MEMBER_SCORES = (
    "SELECT m.example_id AS member, (SELECT max(p.score) FROM dedup_pairs p WHERE p.run_id = $run AND "
    "((p.a_id = m.example_id AND p.b_id = $kept) OR (p.b_id = m.example_id AND p.a_id = $kept))) AS score "
    "FROM dedup_members m WHERE m.run_id = $run AND m.cluster = $cluster"
)


def set_split(store: Store, run_id: int, example_id: int, split: bool) -> None:
    """Take a member out of its cluster (a false positive: it will not be marked) or put it back."""
    team.authorize(store, "dedup-review")
    store.execute(
        "UPDATE dedup_members SET split = ?, keep = CASE WHEN ? THEN false ELSE keep END "
        "WHERE run_id = ? AND example_id = ?",
        [bool(split), bool(split), int(run_id), int(example_id)],
    )


def split_cluster(store: Store, run_id: int, cluster: int) -> int:
    """'Not duplicates': split off every member but the kept row, so the cluster marks nothing; returns how many."""
    team.authorize(store, "dedup-review")
    with store.transaction():
        n = store.query_value(
            "SELECT count(*) FROM dedup_members WHERE run_id = ? AND cluster = ? AND NOT keep AND NOT split",
            [int(run_id), int(cluster)],
        )
        store.execute(
            "UPDATE dedup_members SET split = true, accepted = true WHERE run_id = ? AND cluster = ? AND NOT keep",
            [int(run_id), int(cluster)],
        )
    return int(n)


def set_accepted(store: Store, run_id: int, accepted: bool, cluster: int | None = None) -> None:
    """Accept (or un-accept) the decisions of one cluster, or of every cluster when `cluster` is None."""
    team.authorize(store, "dedup-review")
    cond, params = ("", []) if cluster is None else (" AND cluster = ?", [int(cluster)])
    store.execute(
        f"UPDATE dedup_members SET accepted = ? WHERE run_id = ?{cond}", [bool(accepted), int(run_id), *params]
    )


def duplicate_rows(store: Store, run_id: int, accepted_only: bool = True) -> pd.DataFrame:
    """Rows the run marks duplicate: members of (accepted) clusters neither kept nor split off, with the kept row
    and their score against it."""
    return store.query_df(
        "SELECT m.example_id, k.example_id AS kept_id, m.cluster, m.score FROM dedup_members m "
        "JOIN dedup_members k ON k.run_id = m.run_id AND k.cluster = m.cluster AND k.keep AND NOT k.split "
        "WHERE m.run_id = ? AND NOT m.keep AND NOT m.split AND (m.accepted OR NOT ?) ORDER BY m.example_id",
        [int(run_id), bool(accepted_only)],
    )


def changed_since(store: Store, action_id: int) -> pd.DataFrame:
    """(row, field) values an action wrote that are no longer current: example_id, field, written, current, and
    the latest later action on that (row, field) with its kind (None when the change left no revision)."""
    return store.query_df(
        """
        WITH w AS (SELECT example_id, field, new_value FROM revisions WHERE action_id = ?),
        now AS (
            SELECT w.example_id, w.field, w.new_value AS written,
                   CASE w.field WHEN 'status' THEN e.status WHEN 'status_reason' THEN e.status_reason
                   ELSE CASE WHEN EXISTS (SELECT 1 FROM example_tags t WHERE t.example_id = w.example_id
                                          AND 'tag:' || t.tag = w.field) THEN '1' ELSE '0' END END AS current
            FROM w JOIN examples e ON e.id = w.example_id
        ),
        later AS (
            SELECT r.example_id, r.field, max(r.action_id) AS changed_by FROM revisions r
            JOIN w USING (example_id, field) WHERE r.action_id > ? GROUP BY ALL
        )
        SELECT now.example_id, now.field, now.written, now.current, later.changed_by, a.kind AS changed_by_kind
        FROM now LEFT JOIN later USING (example_id, field) LEFT JOIN actions a ON a.id = later.changed_by
        WHERE now.current IS DISTINCT FROM now.written ORDER BY now.example_id, now.field
        """,
        [int(action_id), int(action_id)],
    )


def mark_applied(store: Store, run_id: int, action_id: int | None) -> None:
    store.execute("UPDATE dedup_runs SET applied_action = ? WHERE id = ?", [action_id, int(run_id)])


# -- contamination ---------------------------------------------------------------------------------------------
def save_matches(store: Store, run_id: int, matches: pd.DataFrame) -> None:
    """Matches of curated rows against evaluation-file rows (example_id, eval_row, score), kept as the
    `contamination` signal with the run as its variant: the best score per row, every match in its evidence."""
    if not len(matches):
        return
    run = get_run(store, run_id) or {}
    eval_file = (run.get("params") or {}).get("eval_file")
    order = {"by": ["example_id", "score", "eval_row"], "ascending": [True, False, True]}
    frame = matches[["example_id", "eval_row", "score"]].sort_values(**order)
    ids = [int(i) for i in frame["example_id"].unique()]
    versions = dict(store.query_rows("SELECT id, version FROM examples WHERE list_contains(?, id)", [ids]))
    scored = [
        signals_store.Scored(
            int(i),
            int(versions.get(int(i), 1)),
            float(group["score"].max()),
            CONTAMINATED,
            {"eval_file": eval_file, "matches": _match_list(group)},
        )
        for i, group in frame.groupby("example_id", sort=True)
    ]
    with store.transaction():
        signal_run = signals_store.create_run(
            store,
            CONTAMINATION_SIGNAL,
            str(int(run_id)),
            run.get("params") or {},
            author=run.get("author"),
            job_id=run.get("job_id"),
        )
        signals_store.save(store, CONTAMINATION_SIGNAL, str(int(run_id)), signal_run, scored)
        signals_store.finish_run(store, signal_run, {"matches": len(frame), "rows": len(scored)})


def _match_list(group: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"eval_row": int(r), "score": float(v)} for r, v in zip(group["eval_row"], group["score"], strict=True)]


def matches(store: Store, run_id: int) -> pd.DataFrame:
    """Contamination matches of a run with the curated row's text, best score first."""
    return store.query_df(
        "SELECT s.example_id, CAST(m.value->>'eval_row' AS INTEGER) AS eval_row, "
        "CAST(m.value->>'score' AS DOUBLE) AS score, e.instruction, e.input, e.status "
        "FROM signals s, json_each(s.evidence, '$.matches') m JOIN examples e ON e.id = s.example_id "
        "WHERE s.name = ? AND s.variant = ? ORDER BY score DESC, s.example_id, eval_row",
        [CONTAMINATION_SIGNAL, str(int(run_id))],
    )
