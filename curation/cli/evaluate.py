"""CLI: accuracy of the base model, a run or a merged model on an item set; paired comparisons; saved results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from curation import identity
from curation.cli.common import echo_json, echo_table, open_store, progress_bar
from curation.evaluate import results
from curation.evaluate.items import EvalItem, items_from_snapshot, load_items
from curation.store import StoreLockedError

app = typer.Typer(
    help="Accuracy on held-out items, FLAN style: multiple choice by rank classification over the options, "
    "free-form by exact match of the final answer; seeded bootstrap 95% intervals.",
    no_args_is_help=True,
)

FileOption = Annotated[
    Path | None,
    typer.Option("--file", exists=True, dir_okay=False, help='JSONL: {"question", "options": [...], "answer"}.'),
]
SnapshotOption = Annotated[
    Path | None, typer.Option("--snapshot", exists=True, file_okay=False, help="Use this snapshot's held-out split.")
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="Score only the first N items.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
TokensOption = Annotated[int, typer.Option(help="Tokens generated per free-form item.")]


def _items(path: Path | None, snapshot: Path | None, limit: int | None) -> tuple[list[EvalItem], str]:
    """Items of --file or of --snapshot's held-out split (exactly one), and a label for the item set."""
    if (path is None) == (snapshot is None):
        raise ValueError("give exactly one item set: --file EVAL.jsonl or --snapshot DIR")
    if snapshot is not None:
        return items_from_snapshot(snapshot, limit), f"{snapshot.name}:heldout"
    items = load_items(path)
    return (items[:limit] if limit else items), str(path)


def _score(spec: str, items: list[EvalItem], label: str, max_new_tokens: int) -> dict[str, Any]:
    hook, close = progress_bar(f"eval {spec}")
    try:
        return results.evaluate(spec, items, label, lambda d, t, m: hook(d / (t or 1) if t else d, m), max_new_tokens)
    finally:
        close()


def _save(ctx: typer.Context, result: dict[str, Any]) -> None:
    try:
        results.save(open_store(ctx), result)
    except StoreLockedError as err:
        typer.echo(f"note: result not saved ({err})", err=True)


def _line(result: dict[str, Any]) -> str:
    norm = result["accuracy_norm"]
    text = f"{result['model']}: accuracy {result['accuracy']:.3f} (95% CI {result['ci_lo']:.3f}-{result['ci_hi']:.3f})"
    return text + (f", per-token-mean {norm:.3f}" if norm is not None else "") + f", n = {result['n']}"


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="'base', a run name or folder, or a merged model folder.")],
    file: FileOption = None,
    snapshot: SnapshotOption = None,
    json_out: JsonOption = False,
    limit: LimitOption = None,
    max_new_tokens: TokensOption = 256,
) -> None:
    """Score one model on an item file or a snapshot's held-out split; saves the result for the Fine-tune page."""
    identity.require("finetune-eval")
    items, label = _items(file, snapshot, limit)
    result = _score(model, items, label, max_new_tokens)
    _save(ctx, result)
    if json_out:
        echo_json(results.public_json(result))
    else:
        typer.echo(_line(result))


@app.command("compare")
def compare_cmd(
    ctx: typer.Context,
    model_a: Annotated[str, typer.Argument(help="Model A ('base', run, merged folder).")],
    model_b: Annotated[str, typer.Argument(help="Model B.")],
    file: FileOption = None,
    snapshot: SnapshotOption = None,
    json_out: JsonOption = False,
    limit: LimitOption = None,
    max_new_tokens: TokensOption = 256,
) -> None:
    """Both models on the same items: each accuracy and the paired bootstrap difference B - A with its p-value."""
    identity.require("finetune-eval")
    items, label = _items(file, snapshot, limit)
    a, b = (_score(m, items, label, max_new_tokens) for m in (model_a, model_b))
    for result in (a, b):
        _save(ctx, result)
    diff = results.compare(a, b)
    if json_out:
        echo_json(
            {"a": results.public_json(a) | {"model": a["model"]}, "b": results.public_json(b) | {"model": b["model"]}}
            | {"diff": diff.diff, "ci95": [diff.lo, diff.hi], "p_value": diff.p_value, "significant": diff.significant}
        )
        return
    typer.echo(_line(a))
    typer.echo(_line(b))
    typer.echo(diff.describe(a["model"], b["model"]))


@app.command("results")
def results_cmd(ctx: typer.Context, limit: Annotated[int, typer.Option(help="Newest N results.")] = 20) -> None:
    """Saved evaluation results, newest first."""
    from curation.store import evaluations

    rows = evaluations.listing(open_store(ctx, read_only=True), limit)
    rows = [r | {k: round(r[k], 4) for k in ("accuracy", "ci_lo", "ci_hi")} for r in rows]
    echo_table(rows, ["id", "created_at", "model", "experiment", "item_set", "n", "accuracy", "ci_lo", "ci_hi"])


@app.command("lm-eval")
def lm_eval_cmd(
    model: Annotated[str, typer.Option("--model", help="'base', a run name or folder, or a merged model folder.")],
    tasks_dir: Annotated[Path, typer.Option(exists=True, file_okay=False, help="Folder of lm-eval task YAML files.")],
    task: Annotated[str, typer.Option(help="Task name defined in that folder.")],
    limit: LimitOption = None,
    chat_template: Annotated[bool, typer.Option(help="Wrap prompts in the model's chat template.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Run one lm-evaluation-harness task from local files (optional extra: pip install lm_eval)."""
    from curation.evaluate import lm_eval_task

    identity.require("finetune-eval")
    metrics = lm_eval_task.run_task(model, tasks_dir, task, limit, apply_chat_template=chat_template)
    if json_out:
        echo_json(metrics)
    else:
        for key, value in metrics.items():
            typer.echo(f"{key}: {value}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="eval")
