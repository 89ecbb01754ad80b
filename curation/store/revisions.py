"""SQL for changing examples: edits, review decisions, tags, history and revert; every change is an action.

The machinery (one revision per (row, field), tag metadata) lives in `changes`, undo and redo in `actions`;
both are re-exported here. Version numbers guard single-row edits against lost updates.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from curation.filters import ExampleFilter
from curation.store import examples
from curation.store.actions import (
    LaterAction,
    UndoConflictError,
    get_action,
    later_actions,
    list_actions,
    redo_action,
    undo_action,
)
from curation.store.changes import FIELDS, TAG_PREFIX, ActionResult, apply_changes
from curation.store.core import ConflictError, Store

OWN_EDITS = ("edit", "revert")

__all__ = [
    "FIELDS",
    "TAG_PREFIX",
    "ActionResult",
    "LaterAction",
    "UndoConflictError",
    "apply_changes",
    "get_action",
    "list_actions",
    "redo_action",
    "undo_action",
]


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

    `changes` maps fields to values; `tags_added` / `tags_removed` take the tags the user added or removed (so
    a tag another process changed meanwhile, e.g. an auto tag, is left alone); `tags` takes the full list.
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
            elif field in ("tags_added", "tags_removed"):
                flag = "1" if field == "tags_added" else "0"
                items += [(example_id, TAG_PREFIX + t, flag) for t in sorted(set(value))]
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
    params: dict[str, Any] | None = None,
) -> ActionResult:
    """Set the status of the rows matching `flt` (or the given `ids`) as one undoable action; `params` adds to
    the action's recorded parameters (e.g. the rubric and threshold a rejection was decided on)."""
    if (flt is None) == (ids is None):
        raise ValueError("pass exactly one of flt or ids")
    if ids is None:
        where, where_params = examples.where_clause(flt)
        ids = [r[0] for r in store.query_rows(f"SELECT e.id FROM examples e WHERE {where}", where_params)]
    # A new decision replaces the old reason (none clears it), so an approved row never keeps a rejection's reason.
    frame = _changes_frame([(i, f, v) for i in ids for f, v in (("status", status), ("status_reason", reason))])
    desc = description or (f"filter {flt.describe()}" if flt and flt.to_dict() else None)
    return apply_changes(
        store,
        frame,
        kind=kind,
        author=author,
        description=desc,
        params={"status": status, "filter": flt.to_dict() if flt else None, **(params or {})},
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
    return apply_changes(store, frame, kind=kind, author=author)


def history(store: Store, example_id: int) -> pd.DataFrame:
    """Every revision of one row, oldest first, with its action (who, when, what kind, whether it is undone).

    Values are str or None (never NaN), whatever kind of action wrote them.
    """
    frame = store.query_df(
        "SELECT r.id AS revision_id, r.action_id, a.kind AS action, a.author, r.created_at, r.field, "
        "r.old_value, r.new_value, r.old_meta, r.new_meta, a.undone_by, a.description FROM revisions r "
        "JOIN actions a ON a.id = r.action_id WHERE r.example_id = ? ORDER BY r.id",
        [int(example_id)],
    )
    for col in ("old_value", "new_value", "old_meta", "new_meta", "description"):
        frame[col] = [v if isinstance(v, str) else None for v in frame[col]]
    return frame


def _after(store: Store, example_id: int, revision_id: int) -> pd.DataFrame:
    """(field, new_value, new_meta): what each field changed after `revision_id`'s action held right after it."""
    action = store.query_value("SELECT action_id FROM revisions WHERE id = ?", [int(revision_id)]) if revision_id else 0
    if action is None:
        raise KeyError(f"revision {revision_id} does not exist")
    return store.query_df(
        "SELECT field, arg_min_null(old_value, id) AS new_value, arg_min_null(old_meta, id) AS new_meta "
        "FROM revisions WHERE example_id = ? AND action_id > ? GROUP BY field ORDER BY field",
        [int(example_id), int(action)],
    )


def values_at(store: Store, example_id: int, revision_id: int) -> dict[str, str | None]:
    """Field values the row had right after `revision_id`'s action (only fields changed since then)."""
    frame = _after(store, example_id, revision_id)
    return {f: v if isinstance(v, str) else None for f, v in zip(frame["field"], frame["new_value"], strict=True)}


def revert_discards(store: Store, example_id: int, revision_id: int) -> list[LaterAction]:
    """Actions in effect whose changes to this row a revert to `revision_id` would discard, newest first."""
    action = store.query_value("SELECT action_id FROM revisions WHERE id = ?", [int(revision_id)]) if revision_id else 0
    return [a for a in later_actions(store, int(action or 0), [int(example_id)], any_field=True)]


def revert_to(
    store: Store, example_id: int, revision_id: int, *, expected_version: int, author: str, force: bool = False
) -> int:
    """Restore the row to its state right after `revision_id` (0: as imported); returns the new version.

    Like undo, a revert never silently discards later work: unless `force`, it raises UndoConflictError naming
    the later actions whose changes to this row it would discard, if any is not the author's own edit or revert
    (a review, a dedup, a tag, or anyone else's change).
    """
    with store.transaction():
        current = examples.get(store, example_id)
        if current is None or int(current["version"]) != int(expected_version):
            raise ConflictError(f"example {example_id} changed since you opened it; reload and retry", current)
        frame = _after(store, example_id, revision_id)
        later = revert_discards(store, example_id, revision_id)
        foreign = [a for a in later if a.author != author or a.kind not in OWN_EDITS]
        if foreign and not force:
            names = "; ".join(f"#{a.id} {a.kind} by {a.author}" for a in foreign)
            own = len(later) - len(foreign)
            also = f" (and {own} edit{'s' if own > 1 else ''} of your own)" if own else ""
            raise UndoConflictError(
                f"reverting #{example_id} discards the later changes of {names}{also}; confirm to revert anyway",
                int(revision_id),
                [int(example_id)],
                later,
            )
        target = "as imported" if revision_id == 0 else f"revision {revision_id}"
        result = apply_changes(
            store,
            frame.assign(example_id=int(example_id)),
            kind="revert",
            author=author,
            description=f"revert #{example_id} to {target}",
            params={"revision": int(revision_id), "discarded": [a.id for a in later]},
        )
    return int(expected_version) + (1 if result.action_id else 0)
