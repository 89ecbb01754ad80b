"""CLI: the task registry, FLAN-style templates, and applying them to a labelled file or to store rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from curation import config
from curation.cli.common import echo_json, echo_table, open_store, progress_bar
from curation.filters import ExampleFilter
from curation.generate import templates as T
from curation.generate.template_formats import COT_STYLES, FEWSHOT_STYLES, FORMATS, OPTIONS_STYLES, FormatConfig, Task
from curation.jobs import JobContext, JobRunner

app = typer.Typer(help="FLAN-style tasks and templates: list, add, edit, delete, apply.", no_args_is_help=True)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option(help="Show this task's templates instead of the task list.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List tasks (cluster, fields, options, template count), or the templates of one task."""
    store = open_store(ctx)
    if task:
        rows = [
            {"id": t.id, "input": t.input, "target": t.target}
            for t in T.get_templates(store, T.get_task(store, task).name)
        ]
        if as_json:
            echo_json(rows)
        else:
            for row in rows:
                typer.echo(f"== {row['id']}  (target: {row['target']!r})\n{row['input']}\n")
        return
    counts = {t.name: len(T.get_templates(store, t.name)) for t in T.list_tasks(store)}
    rows = [
        {
            "task": t.name,
            "cluster": t.cluster,
            "fields": ", ".join(t.input_fields),
            "answer": t.answer_field,
            "options": " | ".join(t.options),
            "rationale": t.rationale_field or "",
            "templates": counts[t.name],
        }
        for t in T.list_tasks(store)
    ]
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows)


@app.command("add-task")
def add_task_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Task name (lowercase, digits, _ or -).")],
    cluster: Annotated[str, typer.Option(help="Task cluster, e.g. NLI, sentiment, QA, summarisation.")],
    fields: Annotated[str, typer.Option(help="Input fields, comma-separated, e.g. premise,hypothesis.")],
    answer: Annotated[str, typer.Option(help="Answer field.")] = "answer",
    options: Annotated[str | None, typer.Option(help="Label options for classification, comma-separated.")] = None,
    rationale: Annotated[str | None, typer.Option(help="Rationale field (enables the cot format).")] = None,
) -> None:
    """Create (or update) a task in the registry."""
    task = Task(name, cluster, tuple(_split(fields)), answer, tuple(_split(options)), rationale or None)
    action = T.save_task(open_store(ctx), task, author=config.get("author"))
    typer.echo(f"saved task {name}" + (f" (action {action}; `undo {action}` reverts it)" if action else " (unchanged)"))


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task name.")],
    input_pattern: Annotated[
        str, typer.Option("--input", help="Input pattern, e.g. 'Premise: {premise}\\n{options_}'.")
    ],
    target: Annotated[str, typer.Option(help="Target pattern; must contain {answer}.")] = "{answer}",
) -> None:
    """Add a template to a task (refused with the reason when a placeholder is unknown or {answer} is missing)."""
    template_id = T.add_template(
        open_store(ctx), task, _unescape(input_pattern), _unescape(target), author=config.get("author")
    )
    typer.echo(f"added template {template_id}")


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    template_id: Annotated[str, typer.Argument(help="Template id, e.g. nli/3.")],
    input_pattern: Annotated[str, typer.Option("--input", help="New input pattern.")],
    target: Annotated[str, typer.Option(help="New target pattern.")] = "{answer}",
) -> None:
    """Replace a template's input and target patterns."""
    T.edit_template(
        open_store(ctx), template_id, _unescape(input_pattern), _unescape(target), author=config.get("author")
    )
    typer.echo(f"updated template {template_id}")


@app.command("delete")
def delete_cmd(ctx: typer.Context, template_id: Annotated[str, typer.Argument(help="Template id.")]) -> None:
    """Delete a template (kept as a deleted version; rows made with it keep pointing at it)."""
    action = T.delete_template(open_store(ctx), template_id, author=config.get("author"))
    typer.echo(f"deleted template {template_id} (action {action}; `undo {action}` restores it)")


def _unescape(text: str) -> str:
    """Shell-friendly patterns: a literal backslash-n means a newline."""
    return text.replace("\\n", "\n")


@app.command("apply")
def apply_cmd(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task name.")],
    file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Labelled CSV/JSONL/JSON/Parquet.")
    ] = None,
    mapping: Annotated[str | None, typer.Option(help='Task field -> column, JSON: {"premise": "sentence1"}.')] = None,
    sample: Annotated[bool, typer.Option(help="Use the built-in task's own labelled sample.")] = False,
    source: Annotated[list[str] | None, typer.Option(help="Use store rows of this source (repeatable).")] = None,
    from_task: Annotated[list[str] | None, typer.Option(help="Use store rows with this task (repeatable).")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "zero-shot",
    k: Annotated[int, typer.Option(help="Exemplars for few-shot (and optional for cot).")] = 0,
    fewshot_style: Annotated[str, typer.Option(help=f"One of {', '.join(FEWSHOT_STYLES)}.")] = "plain",
    options_style: Annotated[str, typer.Option(help=f"One of {', '.join(OPTIONS_STYLES)}.")] = "fixed",
    cot_style: Annotated[str, typer.Option(help=f"One of {', '.join(COT_STYLES)}.")] = "rationale-first",
    cot_trigger: Annotated[str, typer.Option(help="fixed ('Let's think step by step.') or random.")] = "fixed",
    templates: Annotated[
        str | None, typer.Option(help="Template ids to draw from, comma-separated (default: all).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same rows.")] = 0,
    preview: Annotated[int, typer.Option(help="Only print this many rendered rows; write nothing.")] = 0,
) -> None:
    """Render a labelled dataset through a task's templates and write the rows (origin=templated, pending)."""
    if sum([file is not None, sample, bool(source or from_task)]) != 1:
        raise typer.BadParameter("give exactly one of --file, --sample or --source/--from-task", param_hint="--file")
    try:
        cfg = FormatConfig(
            format=fmt,
            k=k,
            fewshot_style=fewshot_style,
            options_style=options_style,
            cot_style=cot_style,
            cot_trigger=cot_trigger,
            seed=seed,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--format") from None
    try:
        column_map = json.loads(mapping) if mapping else None
    except json.JSONDecodeError as err:
        raise typer.BadParameter(f"not valid JSON ({err.msg})", param_hint="--mapping") from None
    store = open_store(ctx)
    spec = T.get_task(store, task)
    chosen = T.get_templates(store, spec.name, _split(templates) or None)
    if file is not None:
        dataset = T.dataset_from_table(
            T.read_table(file.read_bytes(), file.name), spec, cfg, name=file.name, mapping=column_map
        )
    elif sample:
        frame, name = T.builtin_sample(spec.name)
        dataset = T.dataset_from_table(frame, spec, cfg, name=name)
    else:
        flt = ExampleFilter(sources=source or [], tasks=from_task or [])
        dataset = T.dataset_from_store(store, flt, spec, cfg, mapping=column_map)
    if preview:
        for row in T.render(spec, chosen, dataset, cfg, limit=preview):
            typer.echo(
                f"== row {row.row_index} · {row.template_id} · {row.format}\n{row.instruction}\n-> {row.output}\n"
            )
        return
    hook, close = progress_bar("template apply")

    def job(ctx_: JobContext) -> dict:
        ids = T.apply_templates(store, spec, chosen, dataset, cfg, author=config.get("author"), progress=ctx_.progress)
        return {"rows": len(ids), "first_id": ids[0], "last_id": ids[-1]}

    try:
        result = JobRunner(store).run("template-apply", job, {"task": spec.name, "dataset": dataset.name}, hook)
    finally:
        close()
    typer.echo(
        f"wrote {result['rows']} templated rows (ids {result['first_id']}-{result['last_id']}) for task {spec.name}"
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="template")
