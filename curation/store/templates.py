"""SQL for the task registry, instruction templates and the candidates a generation run dropped.

Tasks and templates are versioned: every add, edit and delete writes the next version and a registry revision
(old and new state) under an action, so it can be undone; deleted ones are only marked deleted.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from curation.store import team
from curation.store.changes import new_action
from curation.store.core import Store

_STATE = {
    "task": ("cluster", "input_fields", "answer_field", "options", "rationale_field", "description", "builtin"),
    "template": ("task", "input_pattern", "target_pattern"),
}
_TABLE = {"task": ("tasks", "name"), "template": ("templates", "id")}


def _task_row(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("input_fields", "options"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def list_tasks(store: Store) -> list[dict[str, Any]]:
    """Every task (not deleted) with its template count, by name."""
    rows = store.query_dicts(
        "SELECT t.*, (SELECT count(*) FROM templates p WHERE p.task = t.name AND NOT p.deleted) AS templates "
        "FROM tasks t WHERE NOT t.deleted ORDER BY name"
    )
    return [_task_row(r) for r in rows]


def get_task(store: Store, name: str) -> dict[str, Any] | None:
    rows = store.query_dicts("SELECT * FROM tasks WHERE name = ? AND NOT deleted", [name])
    return _task_row(rows[0]) if rows else None


def _state(store: Store, kind: str, key: str) -> tuple[dict[str, Any] | None, int]:
    """The current state of a task or template (None when absent or deleted) and its version (0: never)."""
    table, key_col = _TABLE[kind]
    rows = store.query_dicts(f"SELECT * FROM {table} WHERE {key_col} = ?", [key])
    if not rows:
        return None, 0
    row = _task_row(rows[0]) if kind == "task" else rows[0]
    state = None if row["deleted"] else {c: row[c] for c in _STATE[kind]}
    return state, int(row["version"])


def _write(store: Store, kind: str, key: str, state: dict[str, Any] | None, action_id: int | None) -> bool:
    """Make `state` (None: deleted) the next version of a task or template, with its registry revision.

    Joins the caller's transaction; returns False (and writes nothing) when the state is already current.
    """
    old, version = _state(store, kind, key)
    if old == state:
        return False
    table, key_col = _TABLE[kind]
    columns = _STATE[kind]
    values = [json.dumps(state[c]) if c in ("input_fields", "options") else state[c] for c in columns] if state else []
    if version == 0:
        store.execute(
            f"INSERT INTO {table} ({key_col}, {', '.join(columns)}) VALUES (?, {', '.join('?' * len(columns))})",
            [key, *values],
        )
    elif state is None:
        store.execute(f"UPDATE {table} SET deleted = true, version = version + 1 WHERE {key_col} = ?", [key])
    else:
        sets = ", ".join(f"{c} = ?" for c in columns)
        store.execute(
            f"UPDATE {table} SET {sets}, deleted = false, version = version + 1 WHERE {key_col} = ?", [*values, key]
        )
    store.execute(
        "INSERT INTO registry_revisions (action_id, kind, key, version, old_state, new_state) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [action_id, kind, key, version + 1, _json(old), _json(state)],
    )
    return True


def _json(state: dict[str, Any] | None) -> str | None:
    return None if state is None else json.dumps(state, default=str)


def _record(store: Store, kind: str, author: str | None, description: str, changes: list[tuple]) -> int | None:
    """Apply (kind, key, state) changes as one action (none for built-in seeding); returns the action id."""
    team.authorize(store, "template")
    with store.transaction():
        action_id = new_action(store, kind, author, description, {}) if author else None
        changed = sum(_write(store, k, key, state, action_id) for k, key, state in changes)
        if action_id is not None and not changed:
            store.execute("DELETE FROM actions WHERE id = ?", [action_id])
            return None
    return action_id


def save_task(store: Store, task: dict[str, Any], *, builtin: bool = False, author: str | None = None) -> int | None:
    """Create a task, or make `task` the next version of an existing one; returns the action (None: unchanged)."""
    state = {c: task.get(c) for c in _STATE["task"]} | {"builtin": builtin}
    current, _ = _state(store, "task", task["name"])
    if current is not None:
        state["builtin"] = bool(current["builtin"])
    verb = "added" if current is None else "edited"
    return _record(store, "task-edit", author, f"{verb} task {task['name']}", [("task", task["name"], state)])


def delete_task(store: Store, name: str, *, author: str = "unknown") -> int:
    """Mark a task and its templates deleted as one undoable action; returns the number of templates."""
    ids = [t["id"] for t in list_templates(store, name)]
    changes = [("template", i, None) for i in ids] + [("task", name, None)]
    _record(store, "task-delete", author, f"deleted task {name} and {len(ids)} templates", changes)
    return len(ids)


def list_templates(store: Store, task: str | None = None) -> list[dict[str, Any]]:
    """Templates (not deleted) of one task (or all), in creation order."""
    cond, params = ("task = ?", [task]) if task else ("TRUE", [])
    return store.query_dicts(
        f"SELECT id, task, input_pattern, target_pattern, author, version, created_at, updated_at FROM templates "
        f"WHERE {cond} AND NOT deleted ORDER BY task, created_at, id",
        params,
    )


def get_template(store: Store, template_id: str) -> dict[str, Any] | None:
    rows = store.query_dicts("SELECT * FROM templates WHERE id = ? AND NOT deleted", [template_id])
    return rows[0] if rows else None


def template_version(store: Store, template_id: str, version: int) -> dict[str, Any] | None:
    """A template as it was at `version` (what a templated row was made with), or None."""
    value = store.query_value(
        "SELECT new_state FROM registry_revisions WHERE kind = 'template' AND key = ? AND version = ? "
        "ORDER BY id DESC LIMIT 1",
        [template_id, int(version)],
    )
    return json.loads(value) if value else None


def next_template_id(store: Store, task: str) -> str:
    """`<task>/<n>` with n one above the highest number the task has used (deleted templates included)."""
    ids = [r[0] for r in store.query_rows("SELECT id FROM templates WHERE task = ?", [task])]
    numbers = [int(m.group(1)) for i in ids if (m := re.fullmatch(re.escape(task) + r"/(\d+)", i))]
    return f"{task}/{max(numbers, default=0) + 1}"


def insert_template(
    store: Store, task: str, input_pattern: str, target_pattern: str, *, author: str, template_id: str | None = None
) -> str:
    """Add a template (an undoable action, except for the built-ins); returns its id."""
    with store.transaction():
        template_id = template_id or next_template_id(store, task)
        state = {"task": task, "input_pattern": input_pattern, "target_pattern": target_pattern}
        who = None if author == "built-in" else author
        _record(store, "template-edit", who, f"added template {template_id}", [("template", template_id, state)])
        store.execute("UPDATE templates SET author = ? WHERE id = ?", [author, template_id])
    return template_id


def update_template(store: Store, template_id: str, input_pattern: str, target_pattern: str, *, author: str) -> None:
    """Make the patterns the template's next version (an undoable action)."""
    row = get_template(store, template_id)
    if not row:
        raise KeyError(f"template {template_id} does not exist")
    state = {"task": row["task"], "input_pattern": input_pattern, "target_pattern": target_pattern}
    with store.transaction():
        _record(store, "template-edit", author, f"edited template {template_id}", [("template", template_id, state)])
        store.execute("UPDATE templates SET author = ?, updated_at = now() WHERE id = ?", [author, template_id])


def delete_template(store: Store, template_id: str, *, author: str = "unknown") -> int | None:
    """Mark a template deleted (an undoable action); rows made with it keep their template id and version."""
    if not get_template(store, template_id):
        raise KeyError(f"template {template_id} does not exist")
    return _record(
        store, "template-delete", author, f"deleted template {template_id}", [("template", template_id, None)]
    )


def registry_changed_since(store: Store, action_id: int) -> list[str]:
    """'template nli/3' for each task or template whose current state is no longer what the action wrote."""
    rows = store.query_rows(
        "SELECT kind, key, arg_max_null(new_state, id) FROM registry_revisions WHERE action_id = ? GROUP BY kind, key "
        "ORDER BY min(id)",
        [int(action_id)],
    )
    wrote = [(kind, key, json.loads(state) if state else None) for kind, key, state in rows]
    return [f"{kind} {key}" for kind, key, state in wrote if _state(store, kind, key)[0] != state]


def reverse_registry(store: Store, action_id: int, undo_action_id: int, skip: list[str]) -> list[str]:
    """Restore what the action changed in the registry (except `skip`) as new versions; returns what changed."""
    rows = store.query_rows(
        "SELECT kind, key, old_state FROM registry_revisions WHERE action_id = ? ORDER BY id DESC", [int(action_id)]
    )
    restored = []
    for kind, key, old in rows:
        if f"{kind} {key}" not in skip and _write(store, kind, key, json.loads(old) if old else None, undo_action_id):
            restored.append(f"{kind} {key}")
    return restored


# -- generation drops -----------------------------------------------------------------------------
_DROP_COLUMNS = ("job_id", "stage", "reason", "instruction", "input", "output", "detail")


def add_drops(store: Store, job_id: int, drops: list[dict[str, Any]]) -> int:
    """Record dropped candidates (stage, reason, instruction, input, output, detail) of a generation job."""
    if not drops:
        return 0
    frame = pd.DataFrame(
        [
            {
                "job_id": int(job_id),
                "stage": d["stage"],
                "reason": d["reason"],
                "instruction": d["instruction"],
                "input": d.get("input"),
                "output": d.get("output"),
                "detail": json.dumps(d.get("detail") or {}, ensure_ascii=False, default=str),
            }
            for d in drops
        ],
        columns=list(_DROP_COLUMNS),
    )
    return store.insert_df("generation_drops", frame)


def list_drops(store: Store, job_id: int | None = None, reason: str | None = None, limit: int = 200) -> pd.DataFrame:
    """Dropped candidates, newest first, optionally of one job and one reason."""
    conds, params = ["TRUE"], []
    if job_id is not None:
        conds.append("job_id = ?")
        params.append(int(job_id))
    if reason:
        conds.append("reason = ?")
        params.append(reason)
    return store.query_df(
        "SELECT id, job_id, stage, reason, instruction, input, output, detail FROM generation_drops "
        f"WHERE {' AND '.join(conds)} ORDER BY id DESC LIMIT ?",
        [*params, int(limit)],
    )


def drop_counts(store: Store, job_id: int | None = None) -> pd.DataFrame:
    """(stage, reason, count) of dropped candidates, largest first."""
    cond, params = ("job_id = ?", [int(job_id)]) if job_id is not None else ("TRUE", [])
    return store.query_df(
        f"SELECT stage, reason, count(*) AS count FROM generation_drops WHERE {cond} "
        "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        params,
    )
