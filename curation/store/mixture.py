"""SQL for mixtures: per-group counts (aggregated in DuckDB), member ids for sampling, rows for export."""

from __future__ import annotations

import pandas as pd

from curation.filters import ExampleFilter
from curation.store import examples
from curation.store.core import Store

NO_GROUP = "(none)"
GROUP_BYS = ("source", "task", "task_cluster", "origin", "format", "cot")
_GROUP_SQL = {
    "source": "s.name",
    "task": "coalesce(e.task, '(none)')",
    "task_cluster": "coalesce(e.task_cluster, '(none)')",
    "origin": "e.origin",
    "format": "coalesce(e.format, '(none)')",
    "cot": "CASE WHEN t.example_id IS NULL THEN 'non-cot' ELSE 'cot' END",
}
_FROM = (
    "FROM examples e JOIN sources s ON s.id = e.source_id "
    "LEFT JOIN (SELECT DISTINCT example_id FROM example_tags WHERE tag = 'cot') t ON t.example_id = e.id"
)


def _member_sql(group_by: str, flt: ExampleFilter, heldout_clusters: list[str]) -> tuple[str, list]:
    if group_by not in GROUP_BYS:
        raise ValueError(f"group_by must be one of {GROUP_BYS}; got {group_by!r}")
    where, params = examples.where_clause(flt)
    sql = (
        f'SELECT e.id, {_GROUP_SQL[group_by]} AS "group", t.example_id IS NOT NULL AS cot, '
        f"coalesce(list_contains(?, e.task_cluster), false) AS held {_FROM} "
        f"WHERE {where} AND e.status <> 'duplicate'"
    )
    return sql, [list(heldout_clusters), *params]


def group_counts(store: Store, group_by: str, flt: ExampleFilter, heldout_clusters: list[str]) -> pd.DataFrame:
    """Eligible rows per (group, cot, held-out cluster): DataFrame(group, cot, held, count)."""
    sql, params = _member_sql(group_by, flt, heldout_clusters)
    frame = store.query_df(
        f'SELECT "group", cot, held, count(*) AS count FROM ({sql}) GROUP BY ALL ORDER BY 1, 2, 3', params
    )
    return frame.astype({"group": str, "cot": bool, "held": bool, "count": "int64"})


def member_ids(store: Store, group_by: str, flt: ExampleFilter, heldout_clusters: list[str]) -> pd.DataFrame:
    """Every eligible row's id with its group, cot flag and held-out-cluster flag, ordered by id."""
    sql, params = _member_sql(group_by, flt, heldout_clusters)
    frame = store.query_df(f"{sql} ORDER BY e.id", params)
    return frame.astype({"id": "int64", "group": str, "cot": bool, "held": bool})


def clusters(store: Store, flt: ExampleFilter) -> list[str]:
    """Task clusters among the eligible rows."""
    where, params = examples.where_clause(flt)
    rows = store.query_rows(
        f"SELECT DISTINCT e.task_cluster FROM examples e WHERE {where} AND e.task_cluster IS NOT NULL ORDER BY 1",
        params,
    )
    return [r[0] for r in rows]


def untagged_cot_format(store: Store, flt: ExampleFilter) -> int:
    """Eligible rows whose format is 'cot' but that carry no cot tag and no manual decision about it."""
    where, params = examples.where_clause(flt)
    return int(
        store.query_value(
            f"SELECT count(*) FROM examples e WHERE {where} AND e.format = 'cot' AND e.status <> 'duplicate' "
            "AND e.id NOT IN (SELECT example_id FROM example_tags WHERE tag = 'cot') "
            "AND e.id NOT IN (SELECT example_id FROM revisions WHERE field = 'tag:cot')",
            params,
        )
    )


def export_rows(store: Store, ids: list[int]) -> pd.DataFrame:
    """Snapshot fields (plus `meta`, for reasoning fields) for the given distinct ids (ordered by id), with the
    latest revision id (0 if none)."""
    frame = pd.DataFrame({"id": pd.Series(sorted(set(ids)), dtype="int64")})
    with store.registered("_mix_ids", frame) as cur:
        return cur.execute(
            "SELECT e.id, coalesce(r.revision, 0) AS revision, e.instruction, e.input, e.output, "
            "CAST(e.messages AS VARCHAR) AS messages, s.name AS source, e.origin, e.task, e.task_cluster, e.format, "
            "CAST(e.meta AS VARCHAR) AS meta "
            "FROM _mix_ids i JOIN examples e ON e.id = i.id JOIN sources s ON s.id = e.source_id "
            "LEFT JOIN (SELECT example_id, max(id) AS revision FROM revisions "
            "WHERE example_id IN (SELECT id FROM _mix_ids) GROUP BY 1) r ON r.example_id = e.id ORDER BY e.id"
        ).df()
