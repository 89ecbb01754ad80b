"""CLI: chain-of-thought tagging (auto detector job, manual decisions, listing scored rows)."""

from __future__ import annotations

from typing import Annotated

import typer

from curation import config
from curation.cli.common import echo_json, echo_table, open_store, progress_bar
from curation.cot import detector as cot
from curation.cot import report as cot_report
from curation.cot import tagging as cot_tagging
from curation.filters import STATUSES, ExampleFilter
from curation.jobs import JobRunner
from curation.store import cot as cot_store
from curation.store import examples

app = typer.Typer(help="Chain-of-thought tagging: detect, tag by hand, inspect.", no_args_is_help=True)

SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="Only rows of this source (repeatable).")]
TaskOpt = Annotated[list[str] | None, typer.Option("--task", help="Only rows of this task (repeatable).")]
StatusOpt = Annotated[list[str] | None, typer.Option("--status", help="Only rows with this status (repeatable).")]
ThresholdOpt = Annotated[float, typer.Option(help="Rows scoring at least this are tagged cot (0 < t <= 1).")]


def _filter(source: list[str] | None, task: list[str] | None, status: list[str] | None) -> ExampleFilter:
    bad = [s for s in status or [] if s not in STATUSES]
    if bad:
        raise typer.BadParameter(f"must be among {', '.join(STATUSES)}; got {', '.join(bad)}", param_hint="--status")
    return ExampleFilter(sources=source or [], tasks=task or [], statuses=status or [])


def _threshold(value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise typer.BadParameter(f"must be in (0, 1]; got {value}", param_hint="--threshold")
    return value


@app.command("tag")
def tag_cmd(
    ctx: typer.Context,
    threshold: ThresholdOpt = cot.DEFAULT_THRESHOLD,
    rescore: Annotated[bool, typer.Option(help="Score every row again, not only new or edited ones.")] = False,
    source: SourceOpt = None,
    task: TaskOpt = None,
    status: StatusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run the CoT detector and tag rows scoring >= threshold (rows with a manual decision are never changed)."""
    threshold = _threshold(threshold)
    flt = _filter(source, task, status)
    store = open_store(ctx)
    hook, close = progress_bar("cot tag")
    try:
        result = JobRunner(store).run(
            cot_tagging.JOB_KIND,
            cot_tagging.tag_job(threshold, flt, rescore),
            cot_tagging.job_params(threshold, flt, rescore),
            on_progress=hook,
        )
    finally:
        close()
    if as_json:
        echo_json(result)
        return
    typer.echo(
        f"scored {result['scored']} rows; {result['auto_tagged']} rows auto-tagged cot at threshold {threshold:g}; "
        f"{result['protected']} rows keep their manual decision"
    )


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Example ids (or use the filter options).")] = None,
    no: Annotated[bool, typer.Option("--no", help="Mark as NOT chain-of-thought (removes the tag).")] = False,
    source: SourceOpt = None,
    task: TaskOpt = None,
    status: StatusOpt = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Apply to every row (when no ids or filter).")] = False,
) -> None:
    """Tag (or with --no untag) rows as CoT by hand: one undoable action that the auto tagger never overrides."""
    flt = _filter(source, task, status)
    if ids and flt.to_dict():
        raise typer.BadParameter("give ids or filter options, not both", param_hint="IDS")
    if not ids and not flt.to_dict() and not all_rows:
        raise typer.BadParameter("give example ids, a filter (--source/--task/--status) or --all", param_hint="IDS")
    store = open_store(ctx)
    if ids:
        missing = sorted(set(ids) - set(cot_store.existing_ids(store, ids)))
        if missing:
            raise ValueError(f"no example with id {', '.join(map(str, missing))}")
    result = cot_tagging.set_manual(
        store, not no, author=config.get("author"), ids=ids or None, flt=None if ids else flt
    )
    verb = "not cot" if no else "cot"
    typer.echo(f"marked {result.rows} rows as {verb} (action {result.action_id}; undo it from the app)")


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    threshold: ThresholdOpt = cot.DEFAULT_THRESHOLD,
    view: Annotated[str, typer.Option(help=f"Which rows: {', '.join(cot_store.VIEWS)}.")] = "above",
    limit: Annotated[int, typer.Option(help="Rows to list, highest score first.", min=0)] = 20,
    source: SourceOpt = None,
    task: TaskOpt = None,
    status: StatusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (summary and rows).")] = False,
) -> None:
    """Summary counts and the scored rows with the signals that fired."""
    threshold = _threshold(threshold)
    if view not in cot_store.VIEWS:
        raise typer.BadParameter(f"must be one of {', '.join(cot_store.VIEWS)}; got {view!r}", param_hint="--view")
    flt = _filter(source, task, status)
    store = open_store(ctx)
    summary = cot_store.summary(store, threshold, flt)
    rows = cot_store.scored_page(store, flt, threshold=threshold, view=view, limit=limit)
    rows["instruction"] = rows["instruction"].str.slice(0, 60).str.replace("\n", " ")
    records = rows[["id", "score", "tag", "signals", "instruction"]].to_dict("records")
    if as_json:
        echo_json({"summary": summary, "rows": records})
        return
    echo_table([summary])
    typer.echo("")
    echo_table(records)


@app.command("explain")
def explain_cmd(
    ctx: typer.Context,
    example_id: Annotated[int, typer.Argument(help="Example id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score one row now and list every signal that fired, its weight, the text that fired it and what it means."""
    store = open_store(ctx)
    row = examples.get(store, example_id)
    if row is None:
        raise ValueError(f"no example with id {example_id}")
    found = cot.detect_row(row["instruction"], row["input"], row["output"], row.get("messages"))
    shares = cot.contributions(found)
    signals = [
        s | {"log_odds": shares.get(s["name"]), "why": cot.SIGNAL_HELP.get(s["name"], "")} for s in found.detail()
    ]
    if as_json:
        echo_json({"id": example_id, "score": found.score, "signals": signals})
        return
    typer.echo(
        f"example {example_id}: score {found.score:.4f} (threshold {cot.DEFAULT_THRESHOLD}; learned weights, each "
        "signal's log-odds share below; the hand-set rules would give "
        f"{cot.rule_score(found.signals):.4f})"
    )
    echo_table(signals or [{"name": "(no signal fired)", "weight": "", "evidence": "", "why": ""}])


@app.command("check")
def check_cmd(
    ctx: typer.Context,
    source: SourceOpt = None,
    task: TaskOpt = None,
    status: StatusOpt = None,
    limit: Annotated[int, typer.Option(help="Conflicting rows to list.", min=0)] = 20,
    tag: Annotated[
        bool, typer.Option("--tag", help=f"Tag conflicting rows '{cot_report.CONFLICT_TAG}' (undoable).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Rationale length statistics and rows whose rationale concludes a different answer than the answer field."""
    store, flt = open_store(ctx), _filter(source, task, status)
    report = cot_report.reasoning_report(store, flt)
    if tag:
        result = cot_report.tag_conflicts(store, flt, author=config.get("author"))
        report["tagged"] = {"rows": result.rows, "action": result.action_id} if result else {"rows": 0}
    if as_json:
        echo_json(report)
        return
    typer.echo(f"{report['with_rationale']:,} of {report['rows']:,} rows have a rationale separate from the answer")
    if report["rationale_words"]:
        typer.echo("rationale length (words): " + ", ".join(f"{k} {v:g}" for k, v in report["rationale_words"].items()))
    typer.echo(f"{report['conflict_count']:,} rows: the rationale concludes a different answer than the answer field")
    if report["conflicts"][:limit]:
        echo_table(report["conflicts"][:limit])
    if tag:
        typer.echo(f"tagged {report['tagged']['rows']} rows '{cot_report.CONFLICT_TAG}' (undo it from the app)")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cot")
