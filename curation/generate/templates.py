"""FLAN-style templated instructions: the task registry, template validation and applying templates to data.

Rendering itself lives in `template_formats` (pure functions). This module checks tasks and templates,
loads the built-in tasks from data/tasks on first use, turns an uploaded labelled table or store rows into
task records, and writes rendered rows (origin=templated) with their provenance.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from curation import config, identity
from curation.filters import ExampleFilter
from curation.generate.template_formats import FormatConfig, Rendered, Task, Template, placeholders, render_row
from curation.io.importers import InvalidInputError, decode_utf8
from curation.store import Store, examples
from curation.store import templates as template_rows

BUILTIN_DIR = config.DATA_DIR / "tasks"
OPTIONS_PLACEHOLDER = "options_"
ANSWER_PLACEHOLDER = "answer"
_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]*")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Progress = Callable[[int, int], None]


class TemplateError(ValueError):
    """A task or template breaks a rule; the message names the template, the placeholder and the fix."""


@dataclass(frozen=True)
class Dataset:
    """Task records to render, with where each came from (file rows or store example ids)."""

    name: str
    records: list[dict[str, str]]
    source_rows: list[int]
    example_ids: list[int] | None = None


# -- validation ----------------------------------------------------------------------------------
def check_task(task: Task) -> None:
    """Refuse a task whose name, fields or options break a rule."""
    if not _NAME.fullmatch(task.name):
        raise TemplateError(f"task name {task.name!r} must be lowercase letters, digits, '_' or '-'")
    if not task.cluster.strip():
        raise TemplateError(f"task {task.name}: the cluster is empty (e.g. NLI, sentiment, QA)")
    if not task.input_fields:
        raise TemplateError(f"task {task.name}: needs at least one input field")
    reserved = (OPTIONS_PLACEHOLDER, ANSWER_PLACEHOLDER)
    for name in (*task.input_fields, task.answer_field, task.rationale_field or "x"):
        if not _FIELD.fullmatch(name):
            raise TemplateError(f"task {task.name}: field name {name!r} must be an identifier (letters, digits, _)")
    if bad := [f for f in task.input_fields if f in reserved or f == task.answer_field]:
        raise TemplateError(f"task {task.name}: input field {bad[0]!r} clashes with the answer or {{options_}}")
    if any(not str(o).strip() for o in task.options) or len(set(task.options)) != len(task.options):
        raise TemplateError(f"task {task.name}: label options must be distinct and non-empty; got {list(task.options)}")


def check_template(task: Task, input_pattern: str, target_pattern: str, template_id: str = "(new)") -> None:
    """Refuse a template with unknown placeholders, no {answer} target, or an answer leaking into the input."""
    where = f"template {template_id} of task {task.name}"
    allowed_input = [*task.input_fields, *([OPTIONS_PLACEHOLDER] if task.options else [])]
    allowed_target = [*task.input_fields, ANSWER_PLACEHOLDER]
    parts = {}
    for part, pattern in (("input", input_pattern), ("target", target_pattern)):
        try:
            parts[part] = placeholders(pattern)
        except ValueError as err:
            msg = f"{where}: the {part} is not a valid pattern ({err}); write {{{{ and }}}} for literal braces"
            raise TemplateError(msg) from None
    if not input_pattern.strip():
        raise TemplateError(f"{where}: the input is empty")
    if ANSWER_PLACEHOLDER in parts["input"]:
        raise TemplateError(f"{where}: the input contains {{answer}}, which would give the answer away; remove it")
    for part, allowed in (("input", allowed_input), ("target", allowed_target)):
        for name in parts[part]:
            if name not in allowed:
                hint = " (the task has no label options)" if name == OPTIONS_PLACEHOLDER else ""
                listed = ", ".join(f"{{{a}}}" for a in allowed)
                raise TemplateError(f"{where}: unknown placeholder {{{name}}} in the {part}{hint}; use {listed}")
    if ANSWER_PLACEHOLDER not in parts["target"]:
        raise TemplateError(f"{where}: the target has no answer placeholder; put {{answer}} where the answer goes")
    if not set(parts["input"]) & set(task.input_fields):
        fields = ", ".join(f"{{{f}}}" for f in task.input_fields)
        raise TemplateError(f"{where}: the input uses none of the task's fields; include at least one of {fields}")


# -- registry ------------------------------------------------------------------------------------
def task_from_row(row: dict[str, Any]) -> Task:
    return Task(
        name=row["name"],
        cluster=row["cluster"],
        input_fields=tuple(row["input_fields"]),
        answer_field=row.get("answer_field") or ANSWER_PLACEHOLDER,
        options=tuple(row.get("options") or ()),
        rationale_field=row.get("rationale_field") or None,
        description=row.get("description") or "",
    )


def _task_dict(task: Task) -> dict[str, Any]:
    return asdict(task) | {"input_fields": list(task.input_fields), "options": list(task.options) or None}


def builtin_specs() -> list[dict[str, Any]]:
    """The built-in task definitions shipped in data/tasks/*.json."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(BUILTIN_DIR.glob("*.json"))]


def ensure_builtin_tasks(store: Store) -> list[str]:
    """Load each built-in task (with its templates) that the store does not have yet; returns those loaded."""
    loaded = []
    for spec in builtin_specs():
        if template_rows.get_task(store, spec["name"]) is not None:
            continue
        task = task_from_row(spec)
        check_task(task)
        with identity.acting_as(identity.SYSTEM), store.transaction():
            template_rows.save_task(store, _task_dict(task), builtin=True)
            for number, tpl in enumerate(spec["templates"], start=1):
                check_template(task, tpl["input"], tpl.get("target", "{answer}"), f"{task.name}/{number}")
                template_rows.insert_template(
                    store,
                    task.name,
                    tpl["input"],
                    tpl.get("target", "{answer}"),
                    author="built-in",
                    template_id=f"{task.name}/{number}",
                )
        loaded.append(task.name)
    return loaded


def list_tasks(store: Store) -> list[Task]:
    """Every registered task (built-ins are loaded on first use)."""
    ensure_builtin_tasks(store)
    return [task_from_row(r) for r in template_rows.list_tasks(store)]


def get_task(store: Store, name: str) -> Task:
    ensure_builtin_tasks(store)
    row = template_rows.get_task(store, name)
    if row is None:
        known = ", ".join(r["name"] for r in template_rows.list_tasks(store)) or "none"
        raise KeyError(f"task {name!r} does not exist; known tasks: {known}")
    return task_from_row(row)


def is_builtin(store: Store, name: str) -> bool:
    row = template_rows.get_task(store, name)
    return bool(row and row["builtin"])


def save_task(store: Store, task: Task, *, author: str) -> int | None:
    """Create or update a task after checking it; returns the (undoable) action, None when nothing changed."""
    check_task(task)
    return template_rows.save_task(store, _task_dict(task), author=author)


def delete_task(store: Store, name: str, *, author: str) -> int:
    """Delete a user task and its templates as one undoable action (built-in tasks stay); returns templates."""
    get_task(store, name)
    if is_builtin(store, name):
        raise ValueError(f"task {name} is built in and cannot be deleted; delete or edit its templates instead")
    return template_rows.delete_task(store, name, author=author)


def get_templates(store: Store, task: str, ids: Sequence[str] | None = None) -> list[Template]:
    """The task's templates (or the named subset, in the order given); KeyError naming an unknown id."""
    rows = {r["id"]: r for r in template_rows.list_templates(store, task)}
    wanted = list(ids) if ids else list(rows)
    if missing := [i for i in wanted if i not in rows]:
        raise KeyError(f"task {task} has no template {missing[0]!r}; it has {', '.join(rows) or 'none'}")
    return [Template(i, task, rows[i]["input_pattern"], rows[i]["target_pattern"], rows[i]["version"]) for i in wanted]


def add_template(store: Store, task_name: str, input_pattern: str, target_pattern: str, *, author: str) -> str:
    """Check and add a template; returns its id (`<task>/<n>`)."""
    task = get_task(store, task_name)
    check_template(task, input_pattern, target_pattern, template_rows.next_template_id(store, task.name))
    return template_rows.insert_template(store, task.name, input_pattern, target_pattern, author=author)


def edit_template(store: Store, template_id: str, input_pattern: str, target_pattern: str, *, author: str) -> None:
    row = template_rows.get_template(store, template_id)
    if row is None:
        raise KeyError(f"template {template_id} does not exist")
    check_template(get_task(store, row["task"]), input_pattern, target_pattern, template_id)
    template_rows.update_template(store, template_id, input_pattern, target_pattern, author=author)


def delete_template(store: Store, template_id: str, *, author: str) -> int | None:
    """Mark a template deleted as an undoable action (returned); rows made with it keep its id and version."""
    return template_rows.delete_template(store, template_id, author=author)


# -- data to template ----------------------------------------------------------------------------
def read_table(data: bytes, file_name: str) -> pd.DataFrame:
    """A labelled table from CSV, JSONL, a JSON array or Parquet bytes (all values as text)."""
    name = file_name.lower()
    try:
        if name.endswith(".parquet"):
            frame = pd.read_parquet(io.BytesIO(data))
        elif name.endswith(".csv"):
            frame = pd.read_csv(io.StringIO(decode_utf8(data, file_name)), dtype=str, keep_default_na=False)
        elif name.endswith((".jsonl", ".ndjson", ".json")):
            text = decode_utf8(data, file_name)
            frame = pd.read_json(io.StringIO(text), lines=not text.lstrip().startswith("["), dtype=False)
        else:
            raise InvalidInputError([f"{file_name}: use a .csv, .jsonl, .json or .parquet file"])
    except InvalidInputError:
        raise
    except Exception as err:
        raise InvalidInputError([f"{file_name}: cannot read the table ({str(err).splitlines()[0]})"]) from err
    if frame.empty:
        raise InvalidInputError([f"{file_name}: no rows found"])
    return frame


def needed_fields(task: Task, cfg: FormatConfig) -> list[str]:
    fields = [*task.input_fields, task.answer_field]
    if cfg.format == "cot":
        if not task.rationale_field:
            raise TemplateError(f"task {task.name} has no rationale field, so it cannot be rendered as cot")
        fields.append(task.rationale_field)
    return fields


def _check_record(task: Task, record: dict[str, str], fields: list[str], where: str, problems: list[str]) -> None:
    for field in fields:
        if not record.get(field, "").strip():
            problems.append(f"{where}: field '{field}' is empty")
    answer = record.get(task.answer_field, "")
    if task.options and answer and answer not in task.options:
        match = [o for o in task.options if o.lower() == answer.strip().lower()]
        if match:
            record[task.answer_field] = match[0]
        else:
            problems.append(
                f"{where}: answer {answer!r} is not one of the task's options {list(task.options)}; fix the label"
            )


def dataset_from_table(
    frame: pd.DataFrame, task: Task, cfg: FormatConfig, *, name: str, mapping: dict[str, str] | None = None
) -> Dataset:
    """Task records from a table; `mapping` maps task fields to columns (default: same-named columns)."""
    fields = needed_fields(task, cfg)
    mapping = {f: (mapping or {}).get(f) or f for f in fields}
    if missing := {f: c for f, c in mapping.items() if c not in frame.columns}:
        field, column = next(iter(missing.items()))
        hint = f"map it to one of {list(frame.columns)}"
        raise InvalidInputError([f"{name}: task field '{field}' needs column {column!r}, which the file lacks; {hint}"])
    records, problems = [], []
    first_line = 2 if name.lower().endswith(".csv") else 1
    for index, row in enumerate(frame[list(mapping.values())].itertuples(index=False)):
        record = {f: "" if _missing(v) else str(v) for f, v in zip(mapping, row, strict=True)}
        _check_record(task, record, fields, f"{name} line {first_line + index}", problems)
        records.append(record)
    if problems:
        raise InvalidInputError(problems[:20])
    return Dataset(name, records, list(range(len(records))))


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


STORE_COLUMNS = ("instruction", "input", "output")


def dataset_from_store(
    store: Store, flt: ExampleFilter, task: Task, cfg: FormatConfig, *, mapping: dict[str, str] | None = None
) -> Dataset:
    """Task records from store rows; a field comes from `meta.<key>` or a text column (default: meta, same name)."""
    fields = needed_fields(task, cfg)
    frame = examples.fetch(store, flt, ("id", "source_row", "instruction", "input", "output", "meta"))
    if frame.empty:
        raise ValueError(f"no store rows match {flt.describe()}")
    metas = [json.loads(m) if isinstance(m, str) else (m or {}) for m in frame["meta"]]
    mapping = {f: (mapping or {}).get(f) or _default_column(f, metas[0]) for f in fields}
    records, problems = [], []
    for (_, row), meta in zip(frame.iterrows(), metas, strict=True):
        record = {f: _store_value(row, meta, col) for f, col in mapping.items()}
        _check_record(task, record, fields, f"example {row['id']}", problems)
        records.append(record)
    if problems:
        raise InvalidInputError(problems[:20])
    return Dataset(f"store: {flt.describe()}", records, frame["source_row"].tolist(), frame["id"].tolist())


def _default_column(field: str, meta: dict[str, Any]) -> str:
    return f"meta.{field}" if field in meta or field not in STORE_COLUMNS else field


def _store_value(row: pd.Series, meta: dict[str, Any], column: str) -> str:
    if column.startswith("meta."):
        value = meta.get(column[5:])
        return "" if value is None else str(value)
    if column not in STORE_COLUMNS:
        raise ValueError(f"column {column!r} must be one of {STORE_COLUMNS} or meta.<key>")
    return str(row[column])


# -- rendering and writing -----------------------------------------------------------------------
def render(
    task: Task,
    templates: Sequence[Template],
    dataset: Dataset,
    cfg: FormatConfig,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> list[Rendered]:
    """Render the first `limit` records (all by default); the same seed always gives the same rows."""
    if not templates:
        raise TemplateError(f"task {task.name} has no templates; add one first")
    for tpl in templates:
        check_template(task, tpl.input, tpl.target, tpl.id)
    total = len(dataset.records) if limit is None else min(limit, len(dataset.records))
    out = []
    for index in range(total):
        out.append(render_row(task, templates, dataset.records, index, cfg))
        if progress and (index % 500 == 0 or index == total - 1):
            progress(index + 1, total)
    return out


def to_rows(
    task: Task, templates: Sequence[Template], dataset: Dataset, rendered: list[Rendered], cfg: FormatConfig
) -> pd.DataFrame:
    """Rendered examples as store rows (origin=templated) with task, cluster, template, format and provenance."""
    by_id = {t.id: t for t in templates}
    ids = dataset.example_ids

    def provenance(r: Rendered) -> dict[str, Any]:
        tpl = by_id[r.template_id]
        return {
            "dataset": dataset.name,
            "source_row": dataset.source_rows[r.row_index],
            "source_example_id": ids[r.row_index] if ids else None,
            "exemplar_rows": [dataset.source_rows[j] for j in r.exemplars],
            "exemplar_example_ids": [ids[j] for j in r.exemplars] if ids else None,
            "template": {"id": tpl.id, "version": tpl.version, "input": tpl.input, "target": tpl.target},
            "seed": cfg.seed,
            "format_config": asdict(cfg),
            "details": r.details,
        }

    return pd.DataFrame(
        {
            "source_row": [r.row_index for r in rendered],
            "origin": "templated",
            "instruction": [r.instruction for r in rendered],
            "input": "",
            "output": [r.output for r in rendered],
            "task": task.name,
            "task_cluster": task.cluster,
            "template_id": [r.template_id for r in rendered],
            "template_version": [by_id[r.template_id].version for r in rendered],
            "format": cfg.format,
            "is_classification": task.is_classification,
            "status": "pending",
            "provenance": [provenance(r) for r in rendered],
        }
    )


def apply_templates(
    store: Store,
    task: Task,
    templates: Sequence[Template],
    dataset: Dataset,
    cfg: FormatConfig,
    *,
    author: str,
    progress: Progress | None = None,
) -> list[int]:
    """Render every record and write the rows as one new source; returns the new example ids."""
    rendered = render(task, templates, dataset, cfg, progress=progress)
    info = examples.SourceInfo(
        name=f"templated:{task.name}",
        format="template",
        file_name=dataset.name,
        options={"task": task.name, "templates": [t.id for t in templates], "format_config": asdict(cfg)},
        author=author,
    )
    return examples.add_examples(store, to_rows(task, templates, dataset, rendered, cfg), info)


def builtin_sample(task_name: str) -> tuple[pd.DataFrame, str]:
    """The small hand-written labelled sample of a built-in task: (table, file name)."""
    spec = next((s for s in builtin_specs() if s["name"] == task_name), None)
    if spec is None or not spec.get("sample"):
        raise KeyError(f"task {task_name!r} has no built-in sample")
    path = BUILTIN_DIR / spec["sample"]
    return read_table(path.read_bytes(), path.name), path.name


def preview_dataset(task: Task, rows: int = 3) -> Dataset:
    """Rows to preview a template on: the built-in sample, or stand-in values like `<premise>` for other tasks."""
    if any(s["name"] == task.name and s.get("sample") for s in builtin_specs()):
        frame, name = builtin_sample(task.name)
        return dataset_from_table(frame.head(max(rows, 3)), task, FormatConfig(), name=name)
    answers = list(task.options) or [f"<{task.answer_field} {i + 1}>" for i in range(rows)]
    records = [
        {f: f"<{f} {i + 1}>" for f in task.fields} | {task.answer_field: answers[i % len(answers)]} for i in range(rows)
    ]
    return Dataset("stand-in values", records, list(range(rows)))
