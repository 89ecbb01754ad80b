"""SQL behind drop reports, snapshot lineage and snapshot diffs: what an action changed, the state of rows right
before or after an action (rebuilt from revisions), the scores an action was decided on, and which action last
changed a row between two points of the action timeline.

A row's value of a field right after action X is the `old_value` of the first revision of that (row, field) by an
action after X, or its current value when no later action touched it; right before X, the same with "X or later".
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from curation.store.core import Store, quote_ident

_PLAIN = ("task", "format", "status", "status_reason")


def _field_at(name: str, alias: str) -> tuple[str, str, list[Any]]:
    """(join, value expression, params) for `name`'s value right after some action X: the join has two
    placeholders, the field (in the returned params) and X, which the caller appends."""
    if name not in _PLAIN:
        raise ValueError(f"field must be one of {_PLAIN}; got {name!r}")
    join = (
        f"LEFT JOIN (SELECT example_id, arg_min_null(old_value, id) AS v FROM revisions "
        f"WHERE field = ? AND action_id > ? GROUP BY example_id) {alias} ON {alias}.example_id = e.id"
    )
    return join, f"CASE WHEN {alias}.example_id IS NOT NULL THEN {alias}.v ELSE e.{quote_ident(name)} END", [name]


def action_changes(store: Store, action_id: int) -> pd.DataFrame:
    """One row per (example, field) the action wrote: example_id, field, old_value, new_value, new_meta (a tag's
    source, score and detail), reason (the row's status reason right after the action), source, origin, task and
    format (right after the action)."""
    joins, params = [], []
    values = {}
    for name in ("task", "format", "status_reason"):
        join, value, p = _field_at(name, f"at_{name}")
        joins.append(join)
        params += [*p, int(action_id)]
        values[name] = value
    return store.query_df(
        "SELECT r.example_id, r.field, r.old_value, r.new_value, r.new_meta, "
        f"{values['status_reason']} AS reason, s.name AS source, e.origin, {values['task']} AS task, "
        f"{values['format']} AS format FROM revisions r JOIN examples e ON e.id = r.example_id "
        f"LEFT JOIN sources s ON s.id = e.source_id {' '.join(joins)} "
        "WHERE r.action_id = ? ORDER BY r.example_id, r.field",
        [*params, int(action_id)],
    )


def rows_at(store: Store, action_id: int, *, before: bool) -> pd.DataFrame:
    """Every row that existed when the action was recorded: example_id, source, task, status, as they were right
    before (`before`) or right after the action."""
    bound = int(action_id) - 1 if before else int(action_id)
    status_join, status, p_status = _field_at("status", "at_status")
    task_join, task, p_task = _field_at("task", "at_task")
    return store.query_df(
        f"SELECT e.id AS example_id, s.name AS source, {task} AS task, {status} AS status FROM examples e "
        f"LEFT JOIN sources s ON s.id = e.source_id {status_join} {task_join} "
        "WHERE e.created_at <= (SELECT created_at FROM actions WHERE id = ?) ORDER BY e.id",
        [*p_status, bound, *p_task, int(action_id), int(action_id)],
    )


def action_for_dedup_run(store: Store, run_id: int) -> int | None:
    """The action that applied a dedup run (None when it was never applied)."""
    value = store.query_value("SELECT applied_action FROM dedup_runs WHERE id = ?", [int(run_id)])
    return None if value is None else int(value)


def action_for_run(store: Store, kind: str, run_id: int) -> int | None:
    """The newest action of `kind` whose params name `run_id` (an operation run that was applied), or None."""
    value = store.query_value(
        "SELECT max(id) FROM actions WHERE kind = ? "
        "AND TRY_CAST(json_extract_string(params, '$.run_id') AS BIGINT) = ?",
        [kind, int(run_id)],
    )
    return None if value is None else int(value)


def latest_action(store: Store, *, kinds: list[str] | None = None, field: str | None = None) -> int | None:
    """The newest action of one of `kinds` (any kind but undo/redo when None) that wrote `field` (any when None)."""
    kind_sql, params = ("list_contains(?, a.kind)", [kinds]) if kinds else ("a.kind NOT IN ('undo', 'redo')", [])
    field_sql = "AND EXISTS (SELECT 1 FROM revisions r WHERE r.action_id = a.id AND r.field = ?)" if field else ""
    value = store.query_value(
        f"SELECT max(a.id) FROM actions a WHERE {kind_sql} {field_sql}", [*params, *([field] if field else [])]
    )
    return None if value is None else int(value)


# -- scores an action was decided on ------------------------------------------------------------------------------
_CHANGED = "SELECT DISTINCT example_id FROM revisions WHERE action_id = ?"


def dedup_scores(store: Store, run_id: int, action_id: int) -> pd.DataFrame:
    """(example_id, score): similarity to the row its cluster kept in a dedup run, for the rows an action changed."""
    return store.query_df(
        f"SELECT example_id, max(score) AS score FROM dedup_members WHERE run_id = ? AND example_id IN ({_CHANGED}) "
        "AND score IS NOT NULL GROUP BY example_id ORDER BY example_id",
        [int(run_id), int(action_id)],
    )


def signal_scores(store: Store, name: str, variant: str, action_id: int) -> pd.DataFrame:
    """(example_id, score): the rows an action changed, scored by signal `name` / `variant` (unscored left out)."""
    return store.query_df(
        f"SELECT example_id, score FROM signals WHERE name = ? AND variant = ? AND example_id IN ({_CHANGED}) "
        "AND score IS NOT NULL ORDER BY example_id",
        [name, variant, int(action_id)],
    )


def _ids_frame(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"example_id": pd.Series(sorted({int(i) for i in ids}), dtype="int64")})


# -- the action timeline (lineage, diffs) --------------------------------------------------------------------------
def last_action_id(store: Store) -> int:
    """The newest action's id (0 when none): a point on the timeline that a snapshot records."""
    return int(store.query_value("SELECT coalesce(max(id), 0) FROM actions"))


def last_action_before(store: Store, when: Any) -> int:
    """The newest action recorded at or before a time (0 when none); for snapshots that predate lineage."""
    return int(store.query_value("SELECT coalesce(max(id), 0) FROM actions WHERE created_at <= ?", [when]))


def action_links(store: Store, upto: int) -> pd.DataFrame:
    """id, kind, description, params, row_count, undone_by of every action up to `upto`, oldest first."""
    return store.query_df(
        "SELECT id, kind, description, params, row_count, undone_by FROM actions WHERE id <= ? ORDER BY id",
        [int(upto)],
    )


def decision_counts(store: Store, upto: int) -> pd.DataFrame:
    """(action_id, field, new_value, rows) for the status and tag revisions of every action up to `upto`."""
    return store.query_df(
        "SELECT action_id, field, new_value, count(DISTINCT example_id) AS rows FROM revisions "
        "WHERE action_id <= ? AND (field = 'status' OR field LIKE 'tag:%') "
        "GROUP BY action_id, field, new_value ORDER BY action_id, field, new_value",
        [int(upto)],
    )


def rows_touched(store: Store, upto: int, ids: list[int]) -> pd.DataFrame:
    """(action_id, rows): how many of `ids` each action up to `upto` changed the status or tags of."""
    with store.registered("_touched_ids", _ids_frame(ids)) as cur:
        return cur.execute(
            "SELECT r.action_id, count(DISTINCT r.example_id) AS rows FROM revisions r "
            "JOIN _touched_ids i ON i.example_id = r.example_id WHERE r.action_id <= ? "
            "AND (r.field = 'status' OR r.field LIKE 'tag:%') GROUP BY r.action_id ORDER BY r.action_id",
            [int(upto)],
        ).df()


def last_changes(store: Store, ids: list[int], after: int, upto: int) -> pd.DataFrame:
    """(example_id, field, action_id, kind, description): for each of `ids` and field, the last action in
    (`after`, `upto`] that changed it."""
    with store.registered("_diff_ids", _ids_frame(ids)) as cur:
        return cur.execute(
            "SELECT l.example_id, l.field, l.action_id, a.kind, a.description FROM ("
            "  SELECT r.example_id, r.field, max(r.action_id) AS action_id FROM revisions r "
            "  JOIN _diff_ids i ON i.example_id = r.example_id "
            "  WHERE r.action_id > ? AND r.action_id <= ? GROUP BY r.example_id, r.field"
            ") l JOIN actions a ON a.id = l.action_id ORDER BY l.example_id, l.field",
            [int(after), int(upto)],
        ).df()


def dedup_runs_info(store: Store, run_ids: list[int]) -> pd.DataFrame:
    """id, method, scope, threshold, rule of these dedup runs (what a lineage entry names)."""
    return store.query_df(
        "SELECT id, method, scope, threshold, rule FROM dedup_runs WHERE list_contains(?, id) ORDER BY id",
        [[int(i) for i in run_ids]],
    )
