"""SQL for mixtures: per-group counts (aggregated in DuckDB), member ids for sampling, rows for export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


HELDOUT_BYS = ("instruction", "task")
# An instruction "normalised": lowercase, runs of white space as one space, no leading/trailing punctuation or
# space, so "Name three birds." and "name three birds" are the same instruction.
INSTRUCTION_KEY = (
    "regexp_replace(lower(regexp_replace(coalesce(e.instruction, ''), '\\s+', ' ', 'g')), "
    "'^[[:punct:][:space:]]+|[[:punct:][:space:]]+$', '', 'g')"
)


@dataclass(frozen=True)
class HeldOutRule:
    """Which eligible rows are held out: whole task clusters, or a fraction of whole instructions / tasks."""

    clusters: tuple[str, ...] = ()
    fraction: float = 0.0
    by: str = "instruction"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.by not in HELDOUT_BYS:
            raise ValueError(f"heldout_by must be one of {HELDOUT_BYS}; got {self.by!r}")


def _member_sql(group_by: str, flt: ExampleFilter, heldout: HeldOutRule) -> tuple[str, list]:
    """Eligible rows: id, group, cot, held, instruction_key, task_key.

    A fraction is held out by whole units (normalised instruction or task): units are drawn in the order of
    md5(seed, unit) and a unit is held while the rows held before it plus half its own stay under the target
    (fraction x eligible rows), so no instruction (or task) is ever on both sides.
    """
    if group_by not in GROUP_BYS:
        raise ValueError(f"group_by must be one of {GROUP_BYS}; got {group_by!r}")
    where, params = examples.where_clause(flt)
    rows = (
        f'SELECT e.id, {_GROUP_SQL[group_by]} AS "group", t.example_id IS NOT NULL AS cot, '
        f"coalesce(list_contains(?, e.task_cluster), false) AS in_cluster, e.task, "
        f"{INSTRUCTION_KEY} AS instruction_key {_FROM} WHERE {where} AND e.status <> 'duplicate'"
    )
    unit = "instruction_key" if heldout.by == "instruction" else "task_key"
    base = (  # rows without a task count as their own (instruction) task
        "SELECT *, coalesce('task:' || task, 'instruction:' || instruction_key) AS task_key, "
        f"{unit} AS unit FROM ({rows})"
    )
    if not heldout.fraction:  # whole clusters only: no units to draw
        sql = f'SELECT id, "group", cot, in_cluster AS held, instruction_key, task_key FROM ({base})'
        return sql, [list(heldout.clusters), *params]
    sql = f"""
        WITH base AS ({base}),
        units AS (SELECT unit, count(*) AS size, md5(? || ':' || unit) AS draw FROM base GROUP BY unit),
        ranked AS (
            SELECT unit, size, sum(size) OVER (ORDER BY draw, unit ROWS UNBOUNDED PRECEDING) - size AS before
            FROM units
        ),
        held_units AS (
            SELECT unit FROM ranked WHERE ? > 0 AND before + size / 2.0 < ? * (SELECT count(*) FROM base)
        )
        SELECT b.id, b."group", b.cot, b.in_cluster OR h.unit IS NOT NULL AS held, b.instruction_key, b.task_key
        FROM base b LEFT JOIN held_units h ON h.unit = b.unit
    """
    return sql, [list(heldout.clusters), *params, str(heldout.seed), heldout.fraction, heldout.fraction]


def group_counts(store: Store, group_by: str, flt: ExampleFilter, heldout: HeldOutRule) -> pd.DataFrame:
    """Eligible rows per (group, cot, held out): DataFrame(group, cot, held, count)."""
    sql, params = _member_sql(group_by, flt, heldout)
    frame = store.query_df(
        f'SELECT "group", cot, held, count(*) AS count FROM ({sql}) GROUP BY ALL ORDER BY 1, 2, 3', params
    )
    return frame.astype({"group": str, "cot": bool, "held": bool, "count": "int64"})


# A row without messages is one exchange (a user turn and a reply); text is every turn's content and reasoning.
_TURNS = "coalesce(json_array_length(e.messages), 2)"
_REPLIES = "coalesce(len(list_filter(json_extract_string(e.messages, '$[*].role'), lambda r: r = 'assistant')), 1)"
_CHARS = (
    "coalesce(list_sum(list_transform(json_extract_string(e.messages, '$[*].content'), lambda c: length(c))) + "
    "coalesce(list_sum(list_transform(json_extract_string(e.messages, '$[*].reasoning_content'), "
    "lambda c: coalesce(length(c), 0))), 0), length(e.instruction) + length(e.input) + length(e.output))"
)


def group_sizes(store: Store, group_by: str, flt: ExampleFilter, heldout: HeldOutRule) -> pd.DataFrame:
    """Per group of trainable (not held-out) eligible rows: rows, turns, assistant turns and text characters."""
    sql, params = _member_sql(group_by, flt, heldout)
    frame = store.query_df(
        f'SELECT m."group", count(*) AS rows, sum({_TURNS}) AS turns, sum({_REPLIES}) AS replies, '
        f"sum({_CHARS}) AS chars FROM ({sql}) m JOIN examples e ON e.id = m.id WHERE NOT m.held GROUP BY 1",
        params,
    )
    return frame.astype({"group": str, "rows": "int64", "turns": "int64", "replies": "int64", "chars": "int64"})


def member_ids(store: Store, group_by: str, flt: ExampleFilter, heldout: HeldOutRule) -> pd.DataFrame:
    """Every eligible row's id with its group, cot flag, held-out flag and instruction / task keys, by id."""
    sql, params = _member_sql(group_by, flt, heldout)
    frame = store.query_df(f"SELECT * FROM ({sql}) ORDER BY id", params)
    return frame.astype({"id": "int64", "group": str, "cot": bool, "held": bool})


def heldout_overlap(store: Store, group_by: str, flt: ExampleFilter, heldout: HeldOutRule) -> dict[str, Any]:
    """Instructions (normalised) and tasks found both among held-out and among trainable eligible rows."""
    sql, params = _member_sql(group_by, flt, heldout)
    rows = store.query_rows(
        f"""
        WITH m AS ({sql}),
        i AS (SELECT instruction_key AS k FROM m GROUP BY 1 HAVING bool_or(held) AND bool_or(NOT held)),
        t AS (SELECT task_key AS k FROM m WHERE task_key LIKE 'task:%' GROUP BY 1
              HAVING bool_or(held) AND bool_or(NOT held))
        SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM t), (SELECT list(k ORDER BY k)[1:5] FROM i)
        """,
        params,
    )
    instructions, tasks, sample = rows[0]
    return {"instructions": int(instructions), "tasks": int(tasks), "examples": list(sample or [])}


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
