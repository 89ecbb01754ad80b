"""SQL for changing examples: every change is an action with one revision per (row, field), undoable.

Fields are the text columns in `FIELDS` plus `tag:<name>` pseudo-fields whose values are '1' (tagged) or
'0' (not tagged). Version numbers guard single-row edits against lost updates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from curation.filters import STATUSES, ExampleFilter
from curation.store import examples, team
from curation.store.core import ConflictError, Store, quote_ident

FIELDS = ("instruction", "input", "output", "task", "task_cluster", "template_id", "format", "status", "status_reason")
TAG_PREFIX = "tag:"


@dataclass(frozen=True)
class ActionResult:
    """What one recorded action changed."""

    action_id: int | None
    rows: int
    revisions: int


def _check_field(field: str) -> None:
    if field not in FIELDS and not (field.startswith(TAG_PREFIX) and len(field) > len(TAG_PREFIX)):
        raise ValueError(f"field must be one of {FIELDS} or 'tag:<name>'; got {field!r}")


def _new_action(store: Store, kind: str, author: str, description: str | None, params: dict | None) -> int:
    action_id = store.next_id("seq_actions")
    store.execute(
        "INSERT INTO actions (id, kind, author, description, params) VALUES (?, ?, ?, ?, ?)",
        [action_id, kind, author, description, json.dumps(params or {}, default=str)],
    )
    return action_id


def apply_changes(
    store: Store,
    changes: pd.DataFrame,
    *,
    kind: str,
    author: str,
    description: str | None = None,
    params: dict | None = None,
) -> ActionResult:
    """Set (example_id, field, new_value) for many rows as one action; unchanged values are skipped.

    Returns the action (None when nothing changed). Each changed row's version goes up by one.
    """
    if changes.empty:
        return ActionResult(None, 0, 0)
    frame = changes[["example_id", "field", "new_value"]].copy()
    frame["example_id"] = frame["example_id"].astype("int64")
    team.authorize(store, kind, frame["example_id"].unique().tolist())
    frame["new_value"] = frame["new_value"].astype(object).where(frame["new_value"].notna(), None)
    for field in frame["field"].unique():
        _check_field(field)
    if "status" in set(frame["field"]):
        bad = set(frame.loc[frame["field"] == "status", "new_value"]) - set(STATUSES)
        if bad:
            raise ValueError(f"status must be one of {STATUSES}; got {sorted(map(str, bad))}")
    with store.transaction():
        action_id = _new_action(store, kind, author, description, params)
        with store.registered("_changes", frame) as cur:
            n_rev = _record_revisions(cur, action_id, frame["field"].unique())
        if n_rev == 0:
            store.execute("DELETE FROM actions WHERE id = ?", [action_id])
            return ActionResult(None, 0, 0)
        _apply_revisions(store, action_id)
        rows = int(
            store.query_value("SELECT count(DISTINCT example_id) FROM revisions WHERE action_id = ?", [action_id])
        )
        store.execute("UPDATE actions SET row_count = ? WHERE id = ?", [rows, action_id])
    return ActionResult(action_id, rows, n_rev)


def _record_revisions(cur: Any, action_id: int, fields: list[str]) -> int:
    total = 0
    for field in fields:
        if field.startswith(TAG_PREFIX):
            old = (
                "CASE WHEN EXISTS (SELECT 1 FROM example_tags t WHERE t.example_id = e.id AND t.tag = ?) "
                "THEN '1' ELSE '0' END"
            )
            old_params = [field[len(TAG_PREFIX) :]]
        else:
            old, old_params = f"e.{field}", []
        sql = f"""
            INSERT INTO revisions (action_id, example_id, field, old_value, new_value)
            SELECT ?, e.id, ?, old_value, c.new_value FROM (
                SELECT e.id, {old} AS old_value FROM examples e
                WHERE e.id IN (SELECT example_id FROM _changes WHERE field = ?)
            ) e JOIN _changes c ON c.example_id = e.id AND c.field = ?
            WHERE old_value IS DISTINCT FROM c.new_value
        """
        total += cur.execute(sql, [action_id, field, *old_params, field, field]).fetchall()[0][0]
    return total


def _apply_revisions(store: Store, action_id: int) -> None:
    fields = [r[0] for r in store.query_rows("SELECT DISTINCT field FROM revisions WHERE action_id = ?", [action_id])]
    for field in fields:
        if field.startswith(TAG_PREFIX):
            tag = field[len(TAG_PREFIX) :]
            store.execute(
                "DELETE FROM example_tags WHERE tag = ? AND example_id IN "
                "(SELECT example_id FROM revisions WHERE action_id = ? AND field = ?)",
                [tag, action_id, field],
            )
            store.execute(
                "INSERT INTO example_tags (example_id, tag, source) SELECT example_id, ?, 'manual' "
                "FROM revisions WHERE action_id = ? AND field = ? AND new_value = '1'",
                [tag, action_id, field],
            )
        else:
            store.execute(
                f"UPDATE examples SET {quote_ident(field)} = r.new_value FROM revisions r "
                "WHERE r.action_id = ? AND r.field = ? AND r.example_id = examples.id",
                [action_id, field],
            )
    store.execute(
        "UPDATE examples SET version = version + 1, updated_at = now() "
        "WHERE id IN (SELECT example_id FROM revisions WHERE action_id = ?)",
        [action_id],
    )


def _changes_frame(items: list[tuple[int, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(items, columns=["example_id", "field", "new_value"])


def update_example(
    store: Store,
    example_id: int,
    changes: dict[str, Any],
    *,
    expected_version: int,
    author: str,
    kind: str = "edit",
    description: str | None = None,
) -> int:
    """Edit one row if nobody changed it since `expected_version`; returns the new version.

    `changes` maps fields to values; the key `tags` takes the full list of tags the row should carry.
    Raises ConflictError (carrying the current row) on a version mismatch.
    """
    with store.transaction():
        current = examples.get(store, example_id)
        if current is None:
            raise KeyError(f"example {example_id} does not exist")
        if int(current["version"]) != int(expected_version):
            raise ConflictError(
                f"example {example_id} was changed by someone else (you edited version {expected_version}, "
                f"it is now at version {current['version']}); review both versions and save again",
                current,
            )
        items: list[tuple[int, str, str | None]] = []
        for field, value in changes.items():
            if field == "tags":
                wanted, have = set(value), set(current["tags"])
                items += [(example_id, TAG_PREFIX + t, "1") for t in sorted(wanted - have)]
                items += [(example_id, TAG_PREFIX + t, "0") for t in sorted(have - wanted)]
            else:
                items.append((example_id, field, None if value is None else str(value)))
        result = apply_changes(store, _changes_frame(items), kind=kind, author=author, description=description)
    return int(current["version"]) + (1 if result.action_id else 0)


def set_status(
    store: Store,
    status: str,
    *,
    author: str,
    flt: ExampleFilter | None = None,
    ids: list[int] | None = None,
    reason: str | None = None,
    kind: str = "review",
    description: str | None = None,
) -> ActionResult:
    """Set the status of the rows matching `flt` (or the given `ids`) as one undoable action."""
    if (flt is None) == (ids is None):
        raise ValueError("pass exactly one of flt or ids")
    if ids is None:
        where, params = examples.where_clause(flt)
        ids = [r[0] for r in store.query_rows(f"SELECT e.id FROM examples e WHERE {where}", params)]
    frame = _changes_frame([(i, "status", status) for i in ids])
    if reason is not None:
        frame = pd.concat([frame, _changes_frame([(i, "status_reason", reason) for i in ids])])
    desc = description or f"{status}: {len(ids)} rows" + (f" ({flt.describe()})" if flt else "")
    return apply_changes(
        store,
        frame,
        kind=kind,
        author=author,
        description=desc,
        params={"status": status, "filter": flt.to_dict() if flt else None},
    )


def set_tag(
    store: Store,
    tag: str,
    present: bool,
    *,
    author: str,
    flt: ExampleFilter | None = None,
    ids: list[int] | None = None,
    kind: str = "tag",
) -> ActionResult:
    """Add (or remove) a manual tag on the rows matching `flt` or `ids`, as one undoable action."""
    if ids is None:
        where, params = examples.where_clause(flt or ExampleFilter())
        ids = [r[0] for r in store.query_rows(f"SELECT e.id FROM examples e WHERE {where}", params)]
    frame = _changes_frame([(i, TAG_PREFIX + tag, "1" if present else "0") for i in ids])
    verb = "tag" if present else "untag"
    return apply_changes(store, frame, kind=kind, author=author, description=f"{verb} {tag!r}: {len(ids)} rows")


def history(store: Store, example_id: int) -> pd.DataFrame:
    """Every revision of one row, oldest first, with its action (who, when, what kind)."""
    return store.query_df(
        "SELECT r.id AS revision_id, r.action_id, a.kind AS action, a.author, r.created_at, r.field, "
        "r.old_value, r.new_value, a.undone_by FROM revisions r JOIN actions a ON a.id = r.action_id "
        "WHERE r.example_id = ? ORDER BY r.id",
        [int(example_id)],
    )


def values_at(store: Store, example_id: int, revision_id: int) -> dict[str, str | None]:
    """Field values the row had right after `revision_id` (only fields changed since then)."""
    rows = store.query_rows(
        "SELECT field, arg_min(old_value, id) FROM revisions WHERE example_id = ? AND id > ? GROUP BY field",
        [int(example_id), int(revision_id)],
    )
    return dict(rows)


def revert_to(store: Store, example_id: int, revision_id: int, *, expected_version: int, author: str) -> int:
    """Restore the row to its state right after `revision_id` (0: as imported); returns the new version."""
    values = values_at(store, example_id, revision_id)
    items = [(example_id, f, v) for f, v in values.items()]
    with store.transaction():
        current = examples.get(store, example_id)
        if current is None or int(current["version"]) != int(expected_version):
            raise ConflictError(f"example {example_id} changed since you opened it; reload and retry", current)
        result = apply_changes(
            store,
            _changes_frame(items),
            kind="revert",
            author=author,
            description=f"revert #{example_id} to revision {revision_id}",
        )
    return int(expected_version) + (1 if result.action_id else 0)


def undo_action(store: Store, action_id: int, *, author: str) -> ActionResult:
    """Undo a whole action (e.g. a bulk approve or a dedup apply) by restoring every old value."""
    action = get_action(store, action_id)
    if action is None:
        raise KeyError(f"action {action_id} does not exist")
    if action["undone_by"] is not None:
        raise ValueError(f"action {action_id} was already undone by action {action['undone_by']}")
    frame = store.query_df(
        "SELECT example_id, field, old_value AS new_value FROM revisions WHERE action_id = ? ORDER BY id",
        [int(action_id)],
    )
    with store.transaction():
        result = apply_changes(
            store,
            frame,
            kind="undo",
            author=author,
            description=f"undo action {action_id} ({action['kind']})",
            params={"undoes": int(action_id)},
        )
        store.execute("UPDATE actions SET undone_by = ? WHERE id = ?", [result.action_id, int(action_id)])
        if result.action_id:
            store.execute("UPDATE actions SET undoes = ? WHERE id = ?", [int(action_id), result.action_id])
    return result


def get_action(store: Store, action_id: int) -> dict[str, Any] | None:
    """One action row (kind, author, description, params, row_count, undone_by, undoes), or None."""
    rows = store.query_dicts("SELECT * FROM actions WHERE id = ?", [int(action_id)])
    return rows[0] if rows else None


def list_actions(store: Store, kinds: list[str] | None = None, limit: int = 50) -> pd.DataFrame:
    """Recent actions, newest first (for undo lists)."""
    cond, params = ("list_contains(?, kind)", [kinds]) if kinds else ("TRUE", [])
    return store.query_df(
        f"SELECT id, kind, author, description, row_count, created_at, undone_by, undoes FROM actions "
        f"WHERE {cond} ORDER BY id DESC LIMIT ?",
        [*params, int(limit)],
    )
