"""SQL for actions: the audit list, undo and redo that never clobber later work.

Undoing action A writes back A's old values as a new action U (kind 'undo', `U.undoes = A`, `A.undone_by = U`);
redoing A undoes U (kind 'redo'). So every action starts a chain A -> U -> R -> U2 ...: A is in effect when the
chain has an odd length. Before anything is written, every (row, field) A wrote is compared with its current
value: rows changed since are reported (`UndoConflictError`) and left alone unless the caller skips them or
forces. The check and the `undone_by` mark happen in one transaction, so two tabs cannot both undo an action.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from curation.store import templates
from curation.store.changes import ActionResult, apply_changes, plural, row_list, summary, value_sql
from curation.store.core import Store


@dataclass(frozen=True)
class LaterAction:
    """An action in effect that changed some of the conflicting rows after the one being undone."""

    id: int
    kind: str
    author: str
    rows: int


class UndoConflictError(ValueError):
    """Some rows the action wrote have changed since; nothing was undone."""

    def __init__(self, message: str, action_id: int, rows: list[int], later: list[LaterAction]) -> None:
        super().__init__(message)
        self.action_id = action_id
        self.rows = rows
        self.later = later


def get_action(store: Store, action_id: int) -> dict[str, Any] | None:
    """One action row (kind, author, description, params, row_count, undone_by, undoes), or None."""
    rows = store.query_dicts("SELECT * FROM actions WHERE id = ?", [int(action_id)])
    return rows[0] if rows else None


def chain(store: Store, action_id: int) -> list[dict[str, Any]]:
    """The action, the undo of it, the redo of that undo, ... (odd length: the action is in effect)."""
    action = get_action(store, action_id)
    if action is None:
        raise KeyError(f"action {action_id} does not exist")
    links = [action]
    while links[-1]["undone_by"] is not None:
        links.append(get_action(store, int(links[-1]["undone_by"])))
    return links


def is_undone(store: Store, action_id: int) -> bool:
    return len(chain(store, action_id)) % 2 == 0


def changed_since(store: Store, action_id: int) -> pd.DataFrame:
    """(example_id, field, wrote, now) for every (row, field) whose value is no longer what the action wrote."""
    fields = [r[0] for r in store.query_rows("SELECT DISTINCT field FROM revisions WHERE action_id = ?", [action_id])]
    frames = []
    for name in fields:
        now, params = value_sql(name)
        frames.append(
            store.query_df(
                f"SELECT r.example_id, r.field, r.new_value AS wrote, {now} AS now FROM "
                "(SELECT example_id, field, arg_max_null(new_value, id) AS new_value FROM revisions "
                " WHERE action_id = ? AND field = ? GROUP BY example_id, field) r "
                f"JOIN examples e ON e.id = r.example_id WHERE {now} IS DISTINCT FROM r.new_value",
                [*params, int(action_id), name, *params],
            )
        )
    frames.append(_rewritten_since(store, action_id))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["example_id", "field", "wrote", "now"])
    changed = pd.concat(frames, ignore_index=True).drop_duplicates(["example_id", "field"])
    return changed.sort_values(["example_id", "field"], ignore_index=True)


def _rewritten_since(store: Store, action_id: int) -> pd.DataFrame:
    """(row, field) pairs a later action still in effect wrote, even if the value came back to what this action
    wrote (A -> B -> A): undoing this action would silently discard that later work."""
    return store.query_df(
        "SELECT DISTINCT r.example_id, r.field, NULL AS wrote, NULL AS now FROM revisions r "
        "JOIN actions a ON a.id = r.action_id WHERE r.action_id > ? AND a.undone_by IS NULL "
        "AND a.kind NOT IN ('undo', 'redo') "
        "AND (r.example_id, r.field) IN (SELECT example_id, field FROM revisions WHERE action_id = ?)",
        [int(action_id), int(action_id)],
    )


def later_actions(store: Store, action_id: int, rows: list[int], *, any_field: bool = False) -> list[LaterAction]:
    """Actions after `action_id`, still in effect, that changed one of `rows` (a field it wrote, or any field
    with `any_field`); newest first."""
    same_field = (
        ""
        if any_field
        else "AND (r.example_id, r.field) IN (SELECT example_id, field FROM revisions WHERE action_id = ?)"
    )
    found = store.query_rows(
        "SELECT a.id, a.kind, a.author, count(DISTINCT r.example_id) FROM revisions r "
        "JOIN actions a ON a.id = r.action_id "
        f"WHERE r.action_id > ? AND list_contains(?, r.example_id) AND a.undone_by IS NULL {same_field} "
        "GROUP BY a.id, a.kind, a.author ORDER BY a.id DESC",
        [int(action_id), [int(i) for i in rows], *([] if any_field else [int(action_id)])],
    )
    return [LaterAction(int(i), k, a, int(n)) for i, k, a, n in found]


def _conflict_message(action: dict[str, Any], rows: list[int], total: int, later: list[LaterAction]) -> str:
    by = "; ".join(f"#{a.id} {a.kind} by {a.author} ({plural(a.rows)})" for a in later[:3])
    cause = f"changed since by {by}" if later else "changed since outside any action (e.g. the CoT auto-tagger)"
    hint = f"undo #{later[0].id} first, " if later else ""
    return (
        f"action {action['id']} ({action['kind']}): {len(rows)} of {total} rows were {cause}: "
        f"{row_list(rows, len(rows))}. Nothing was changed; {hint}undo only the unchanged rows, or force"
    )


def _reverse(store: Store, target: dict[str, Any], *, author: str, kind: str, force: bool, skip_changed: bool,
             prefix: str) -> ActionResult:  # fmt: skip
    """Write back `target`'s old values as a new action of `kind` and mark `target` undone by it."""
    target_id = int(target["id"])
    conflicts = changed_since(store, target_id)
    rows = sorted({int(i) for i in conflicts["example_id"]})
    total = int(store.query_value("SELECT count(DISTINCT example_id) FROM revisions WHERE action_id = ?", [target_id]))
    registry = templates.registry_changed_since(store, target_id)
    if (rows or registry) and not (force or skip_changed):
        later = later_actions(store, target_id, rows)
        message = (
            _conflict_message(target, rows, total, later)
            if rows
            else f"action {target_id} ({target['kind']}): {', '.join(registry)} changed since (a newer version); "
            "nothing was changed; undo the later change first, or force"
        )
        raise UndoConflictError(message, target_id, rows, later)
    skipped = [] if force else rows
    frame = store.query_df(
        "SELECT example_id, field, arg_min_null(old_value, id) AS new_value, arg_min_null(old_meta, id) AS new_meta "
        "FROM revisions WHERE action_id = ? AND NOT list_contains(?, example_id) GROUP BY example_id, field "
        "ORDER BY example_id, field",
        [target_id, skipped],
    )
    if force and rows:
        frame = pd.concat([frame, _reasons_at(store, target_id, rows)], ignore_index=True)
    keep_version = bool(action_params(target).get("keep_version"))  # e.g. auto tags: undo keeps row versions too
    params = {
        "undoes": target_id,
        "skipped": skipped,
        "forced": bool(force and rows),
        "overwritten": rows if force else [],
        **({"keep_version": True} if keep_version else {}),
    }
    if skipped:
        prefix += f", kept {plural(len(skipped), 'changed row')} ({row_list(skipped, len(skipped))})"
    result = apply_changes(store, frame, kind=kind, author=author, description=prefix, params=params, keep_empty=True,
                           bump_version=not keep_version)  # fmt: skip
    restored = templates.reverse_registry(store, target_id, int(result.action_id), [] if force else registry)
    if restored:
        store.execute(
            "UPDATE actions SET description = ? WHERE id = ?",
            [f"{prefix}: restored {', '.join(sorted(restored))}", result.action_id],
        )
    marked = store.execute(
        "UPDATE actions SET undone_by = ? WHERE id = ? AND undone_by IS NULL", [result.action_id, target_id]
    )
    if marked != 1:
        raise ValueError(f"action {target_id} was undone meanwhile (by another tab or user); reload to see it")
    store.execute("UPDATE actions SET undoes = ? WHERE id = ?", [target_id, result.action_id])
    return ActionResult(result.action_id, result.rows, result.revisions, tuple(skipped))


def _reasons_at(store: Store, action_id: int, rows: list[int]) -> pd.DataFrame:
    """status_reason as it was right after the action, for rows whose status it set but whose reason it left:
    a forced undo puts the reason back with the status, so no later rejection's reason outlives it."""
    return store.query_df(
        "SELECT r.example_id, 'status_reason' AS field, CASE WHEN count(l.id) > 0 "
        "THEN arg_min_null(l.old_value, l.id) ELSE any_value(e.status_reason) END AS new_value, "
        "CAST(NULL AS VARCHAR) AS new_meta FROM revisions r JOIN examples e ON e.id = r.example_id "
        "LEFT JOIN revisions l ON l.example_id = r.example_id AND l.field = 'status_reason' AND l.action_id > ? "
        "WHERE r.action_id = ? AND r.field = 'status' AND list_contains(?, r.example_id) AND NOT EXISTS "
        "(SELECT 1 FROM revisions x WHERE x.action_id = ? AND x.example_id = r.example_id "
        "AND x.field = 'status_reason') "
        "GROUP BY r.example_id",
        [action_id, action_id, [int(i) for i in rows], action_id],
    )


def undo_action(
    store: Store, action_id: int, *, author: str, force: bool = False, skip_changed: bool = False
) -> ActionResult:
    """Undo an action (a bulk approve, a dedup apply, an edit ...), or the redo that brought it back.

    Rows whose fields changed since are not touched: without `skip_changed` or `force` nothing is written and
    UndoConflictError lists them with the later actions; `skip_changed` undoes the other rows; `force` overwrites.
    An undo that changes nothing is still recorded.
    """
    with store.transaction():
        links = chain(store, action_id)
        if len(links) % 2 == 0:
            undo = links[-1]
            raise ValueError(
                f"action {action_id} was already undone by action {undo['id']} ({undo['author']}, "
                f"{undo['created_at']:%Y-%m-%d %H:%M}); redo it instead"
            )
        return _reverse(store, links[-1], author=author, kind="undo", force=force, skip_changed=skip_changed,
                        prefix=f"undo #{links[-1]['id']} ({links[-1]['kind']})")  # fmt: skip


def redo_action(
    store: Store, action_id: int, *, author: str, force: bool = False, skip_changed: bool = False
) -> ActionResult:
    """Apply an undone action again (as a new 'redo' action), with the same conflict rule as undo."""
    with store.transaction():
        links = chain(store, action_id)
        if len(links) % 2 == 1:
            raise ValueError(f"action {action_id} is in effect (not undone); there is nothing to redo")
        return _reverse(store, links[-1], author=author, kind="redo", force=force, skip_changed=skip_changed,
                        prefix=f"redo #{action_id} ({links[0]['kind']})")  # fmt: skip


def list_actions(store: Store, kinds: list[str] | None = None, limit: int = 50) -> pd.DataFrame:
    """Recent actions, newest first, with `undone` (whether the action is currently undone)."""
    cond, params = ("list_contains(?, kind)", [kinds]) if kinds else ("TRUE", [])
    frame = store.query_df(
        f"SELECT id, kind, author, description, row_count, created_at, undone_by, undoes FROM actions "
        f"WHERE {cond} ORDER BY id DESC LIMIT ?",
        [*params, int(limit)],
    )
    frame["description"] = [
        d if isinstance(d, str) else summary(store, int(i))
        for i, d in zip(frame["id"], frame["description"], strict=True)
    ]
    frame["undone"] = [is_undone(store, int(i)) for i in frame["id"]]
    return frame


def action_params(action: dict[str, Any]) -> dict[str, Any]:
    value = action.get("params")
    return json.loads(value) if isinstance(value, str) and value else {}
