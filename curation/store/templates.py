"""SQL for the task registry, instruction templates and the candidates a generation run dropped."""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from curation.store import team
from curation.store.core import Store

_TASK_COLUMNS = ("name", "cluster", "input_fields", "answer_field", "options", "rationale_field", "description")


def _task_row(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("input_fields", "options"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def list_tasks(store: Store) -> list[dict[str, Any]]:
    """Every task with its template count, by name."""
    rows = store.query_dicts(
        "SELECT t.*, (SELECT count(*) FROM templates p WHERE p.task = t.name) AS templates FROM tasks t ORDER BY name"
    )
    return [_task_row(r) for r in rows]


def get_task(store: Store, name: str) -> dict[str, Any] | None:
    rows = store.query_dicts("SELECT * FROM tasks WHERE name = ?", [name])
    return _task_row(rows[0]) if rows else None


def save_task(store: Store, task: dict[str, Any], *, builtin: bool = False) -> None:
    """Insert a task, or update every column of an existing one with that name."""
    team.authorize(store, "template")
    values = [json.dumps(task[c]) if c in ("input_fields", "options") else task.get(c) for c in _TASK_COLUMNS]
    with store.transaction():
        if store.query_value("SELECT count(*) FROM tasks WHERE name = ?", [task["name"]]):
            store.execute(
                "UPDATE tasks SET cluster = ?, input_fields = ?, answer_field = ?, options = ?, rationale_field = ?, "
                "description = ? WHERE name = ?",
                [*values[1:], task["name"]],
            )
        else:
            store.execute(
                "INSERT INTO tasks (name, cluster, input_fields, answer_field, options, rationale_field, description, "
                "builtin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [*values, builtin],
            )


def delete_task(store: Store, name: str) -> int:
    """Remove a task and its templates; returns the number of templates removed."""
    team.authorize(store, "template")
    with store.transaction():
        removed = int(store.query_value("SELECT count(*) FROM templates WHERE task = ?", [name]))
        store.execute("DELETE FROM templates WHERE task = ?", [name])
        store.execute("DELETE FROM tasks WHERE name = ?", [name])
    return removed


def list_templates(store: Store, task: str | None = None) -> list[dict[str, Any]]:
    """Templates of one task (or all), in creation order."""
    cond, params = ("task = ?", [task]) if task else ("TRUE", [])
    return store.query_dicts(
        f"SELECT id, task, input_pattern, target_pattern, author, created_at, updated_at FROM templates "
        f"WHERE {cond} ORDER BY task, created_at, id",
        params,
    )


def get_template(store: Store, template_id: str) -> dict[str, Any] | None:
    rows = store.query_dicts("SELECT * FROM templates WHERE id = ?", [template_id])
    return rows[0] if rows else None


def next_template_id(store: Store, task: str) -> str:
    """`<task>/<n>` with n one above the highest number the task has used."""
    ids = [r[0] for r in store.query_rows("SELECT id FROM templates WHERE task = ?", [task])]
    numbers = [int(m.group(1)) for i in ids if (m := re.fullmatch(re.escape(task) + r"/(\d+)", i))]
    return f"{task}/{max(numbers, default=0) + 1}"


def insert_template(
    store: Store, task: str, input_pattern: str, target_pattern: str, *, author: str, template_id: str | None = None
) -> str:
    """Add a template; returns its id."""
    team.authorize(store, "template")
    with store.transaction():
        template_id = template_id or next_template_id(store, task)
        store.execute(
            "INSERT INTO templates (id, task, input_pattern, target_pattern, author) VALUES (?, ?, ?, ?, ?)",
            [template_id, task, input_pattern, target_pattern, author],
        )
    return template_id


def update_template(store: Store, template_id: str, input_pattern: str, target_pattern: str, *, author: str) -> None:
    team.authorize(store, "template")
    if not get_template(store, template_id):
        raise KeyError(f"template {template_id} does not exist")
    store.execute(
        "UPDATE templates SET input_pattern = ?, target_pattern = ?, author = ?, updated_at = now() WHERE id = ?",
        [input_pattern, target_pattern, author, template_id],
    )


def delete_template(store: Store, template_id: str) -> None:
    team.authorize(store, "template")
    if not get_template(store, template_id):
        raise KeyError(f"template {template_id} does not exist")
    store.execute("DELETE FROM templates WHERE id = ?", [template_id])


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
