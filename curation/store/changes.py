"""SQL for applying changes to examples: one action, one revision per (row, field), tags with their metadata.

Fields are the columns in `FIELDS` plus `tag:<name>` pseudo-fields whose values are '1' (tagged) or '0' (not
tagged). A tag revision also keeps the tag's metadata before and after (`old_meta` / `new_meta`, JSON text
{"source", "score", "detail"}), so undo restores an auto tag with its score, and a manual "not tagged" decision is
told apart from a row nobody decided on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from curation.filters import STATUSES
from curation.store import team
from curation.store.core import Store, quote_ident

FIELDS = (
    "instruction",
    "input",
    "output",
    "messages",
    "tools",
    "task",
    "task_cluster",
    "template_id",
    "format",
    "status",
    "status_reason",
)
TAG_PREFIX = "tag:"
MANUAL_META = json.dumps({"source": "manual"})
SHOWN_IDS = 5


@dataclass(frozen=True)
class ActionResult:
    """What one recorded action changed; `skipped` lists rows an undo left alone because they changed since."""

    action_id: int | None
    rows: int
    revisions: int
    skipped: tuple[int, ...] = field(default=())


def check_field(name: str) -> None:
    if name not in FIELDS and not (name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX)):
        raise ValueError(f"field must be one of {FIELDS} or 'tag:<name>'; got {name!r}")


def value_sql(name: str) -> tuple[str, list[Any]]:
    """SQL for the current value of a field of `examples e` ('1'/'0' for a tag), and its parameters."""
    if name.startswith(TAG_PREFIX):
        tag = name[len(TAG_PREFIX) :]
        return (
            "CASE WHEN EXISTS (SELECT 1 FROM example_tags t WHERE t.example_id = e.id AND t.tag = ?) "
            "THEN '1' ELSE '0' END",
            [tag],
        )
    return f"e.{quote_ident(name)}", []


def meta_sql(name: str) -> tuple[str, list[Any]]:
    """SQL for the current tag metadata of `examples e` (NULL for plain fields): the tag row's source, score and
    detail, or for an absent tag the metadata of the revision that removed it."""
    if not name.startswith(TAG_PREFIX):
        return "CAST(NULL AS VARCHAR)", []
    tag = name[len(TAG_PREFIX) :]
    sql = (
        "coalesce((SELECT CAST(json_object('source', t.source, 'score', t.score, 'detail', t.detail) AS VARCHAR) "
        "FROM example_tags t WHERE t.example_id = e.id AND t.tag = ? ORDER BY t.created_at LIMIT 1), "
        "(SELECT CASE WHEN r.new_value = '0' THEN r.new_meta END FROM revisions r "
        "WHERE r.example_id = e.id AND r.field = ? ORDER BY r.id DESC LIMIT 1))"
    )
    return sql, [tag, name]


def new_action(store: Store, kind: str, author: str, description: str | None, params: dict | None) -> int:
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
    keep_empty: bool = False,
    bump_version: bool = True,
) -> ActionResult:
    """Set (example_id, field, new_value) for many rows as one action; unchanged values are skipped.

    An optional `new_meta` column gives tag metadata exactly (undo, revert); then a tag whose value is the same
    but whose source or score differs is changed too. Without it, tags are written as manual. The action's
    description says what changed on which rows (`description`, if given, is its prefix). Returns the action
    (None when nothing changed, unless `keep_empty`). Each changed row's version goes up by one, unless
    `bump_version` is False (the CoT auto-tagger: its tags must not turn an open editor's save into a conflict).
    """
    if changes.empty and not keep_empty:
        return ActionResult(None, 0, 0)
    exact_meta = "new_meta" in changes
    frame = changes.reindex(columns=["example_id", "field", "new_value", "new_meta"]).copy()
    frame["example_id"] = frame["example_id"].astype("int64")
    team.authorize(store, kind, frame["example_id"].unique().tolist(), set(frame["field"]))
    for col in ("new_value", "new_meta"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    frame["field"] = frame["field"].astype(object)
    for name in frame["field"].unique():
        check_field(name)
    if "status" in set(frame["field"]):
        bad = set(frame.loc[frame["field"] == "status", "new_value"]) - set(STATUSES)
        if bad:
            raise ValueError(f"status must be one of {STATUSES}; got {sorted(map(str, bad))}")
    with store.transaction():
        action_id = new_action(store, kind, author, description, params)
        n_rev = 0
        if not frame.empty:
            with store.registered("_changes", frame) as cur:
                n_rev = _record_revisions(cur, action_id, list(frame["field"].unique()), exact_meta)
        if n_rev == 0 and not keep_empty:
            store.execute("DELETE FROM actions WHERE id = ?", [action_id])
            return ActionResult(None, 0, 0)
        _apply_revisions(store, action_id, bump_version)
        rows = int(
            store.query_value("SELECT count(DISTINCT example_id) FROM revisions WHERE action_id = ?", [action_id])
        )
        text = summary(store, action_id)
        store.execute(
            "UPDATE actions SET row_count = ?, description = ? WHERE id = ?",
            [rows, f"{description}: {text}" if description else text, action_id],
        )
    return ActionResult(action_id, rows, n_rev)


def _record_revisions(cur: Any, action_id: int, fields: list[str], exact_meta: bool) -> int:
    total = 0
    for name in fields:
        old, old_params = value_sql(name)
        meta, meta_params = meta_sql(name)
        is_tag = name.startswith(TAG_PREFIX)
        new_meta = "c.new_meta" if exact_meta or not is_tag else f"'{MANUAL_META}'"
        differs = "old_value IS DISTINCT FROM c.new_value"
        if exact_meta and is_tag:
            differs += (
                " OR json_extract_string(old_meta, '$.source') IS DISTINCT FROM json_extract_string(c.new_meta, "
                "'$.source') OR json_extract_string(old_meta, '$.score') IS DISTINCT FROM "
                "json_extract_string(c.new_meta, '$.score')"
            )
        sql = f"""
            INSERT INTO revisions (action_id, example_id, field, old_value, new_value, old_meta, new_meta)
            SELECT ?, e.id, ?, old_value, c.new_value, old_meta, {new_meta} FROM (
                SELECT e.id, {old} AS old_value, {meta} AS old_meta FROM examples e
                WHERE e.id IN (SELECT example_id FROM _changes WHERE field = ?)
            ) e JOIN _changes c ON c.example_id = e.id AND c.field = ?
            WHERE {differs}
            ORDER BY e.id
        """
        params = [action_id, name, *old_params, *meta_params, name, name]
        total += cur.execute(sql, params).fetchall()[0][0]
    return total


def _apply_revisions(store: Store, action_id: int, bump_version: bool = True) -> None:
    fields = [r[0] for r in store.query_rows("SELECT DISTINCT field FROM revisions WHERE action_id = ?", [action_id])]
    for name in fields:
        if name.startswith(TAG_PREFIX):
            tag = name[len(TAG_PREFIX) :]
            store.execute(
                "DELETE FROM example_tags WHERE tag = ? AND example_id IN "
                "(SELECT example_id FROM revisions WHERE action_id = ? AND field = ?)",
                [tag, action_id, name],
            )
            store.execute(
                "INSERT INTO example_tags (example_id, tag, source, score, detail) "
                "SELECT example_id, ?, coalesce(json_extract_string(new_meta, '$.source'), 'manual'), "
                "TRY_CAST(json_extract_string(new_meta, '$.score') AS DOUBLE), "
                "CASE WHEN json_type(json_extract(new_meta, '$.detail')) <> 'NULL' "
                "THEN json_extract(new_meta, '$.detail') END "
                "FROM revisions WHERE action_id = ? AND field = ? AND new_value = '1'",
                [tag, action_id, name],
            )
        else:
            store.execute(
                f"UPDATE examples SET {quote_ident(name)} = r.new_value FROM revisions r "
                "WHERE r.action_id = ? AND r.field = ? AND r.example_id = examples.id",
                [action_id, name],
            )
    if not bump_version:
        return
    store.execute(
        "UPDATE examples SET version = version + 1, updated_at = now() "
        "WHERE id IN (SELECT example_id FROM revisions WHERE action_id = ?)",
        [action_id],
    )


# -- describing an action in words ---------------------------------------------------------------------------
def plural(n: int, noun: str = "row") -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def row_list(ids: list[int], total: int) -> str:
    """'#3', '#3, #9 (2 rows)' or '#3, #9, #12, #15, #20, … (70 rows)'."""
    shown = ", ".join(f"#{i}" for i in ids[:SHOWN_IDS])
    if total <= 1:
        return shown
    return f"{shown}{', …' if total > SHOWN_IDS else ''} ({total:,} rows)"


def summary(store: Store, action_id: int) -> str:
    """What an action changed on which rows, e.g. 'approved #12, #15, … (70 rows)'; 'no change' when nothing."""
    groups = store.query_rows(
        "SELECT CASE WHEN field = 'status' THEN new_value "
        "WHEN field LIKE 'tag:%' THEN "
        "  CASE WHEN new_value = '1' THEN 'tagged ' ELSE 'untagged ' END || substr(field, 5) "
        "ELSE 'edited' END AS what, "
        "list(DISTINCT field ORDER BY field) FILTER (WHERE field NOT LIKE 'tag:%' AND field <> 'status'), "
        "list(DISTINCT example_id ORDER BY example_id), count(DISTINCT example_id), min(id) "
        "FROM revisions WHERE action_id = ? GROUP BY 1 ORDER BY min(id)",
        [int(action_id)],
    )
    status_rows = {i for what, _f, ids, _n, _m in groups if what in STATUSES for i in ids}
    parts = []
    for what, fields, ids, total, _ in groups:
        if what == "edited":
            fields = [f for f in fields if f != "status_reason"] or fields
            ids = [i for i in ids if i not in status_rows] if fields == ["status_reason"] else ids
            if not ids:
                continue
            what = "edited " + ", ".join(fields)
            total = len(ids)
        parts.append(f"{what} {row_list(ids, total)}")
    return "; ".join(parts) or "no change"


def differing(store: Store, frame: pd.DataFrame) -> set[tuple[int, str]]:
    """The (example_id, field) pairs of a changes frame whose new_value differs from the row's present value."""
    if frame.empty:
        return set()
    found: set[tuple[int, str]] = set()
    data = frame[["example_id", "field", "new_value"]].astype({"example_id": "int64", "field": object})
    with store.registered("_differing", data) as cur:
        for name in data["field"].unique():
            check_field(name)
            now, params = value_sql(name)
            rows = cur.execute(
                f"SELECT c.example_id FROM _differing c JOIN examples e ON e.id = c.example_id "
                f"WHERE c.field = ? AND {now} IS DISTINCT FROM c.new_value",
                [name, *params],
            ).fetchall()
            found |= {(int(r[0]), name) for r in rows}
    return found
