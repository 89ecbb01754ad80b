"""CLI: every curation operation through one set of verbs (`signals list / run / show / apply / runs`).

`--signal NAME[@VARIANT]:MIN:MAX` and `--signal-label NAME[@VARIANT]=L1,L2` are the filter clause on stored signals;
other commands (export) reuse `signal_options`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from curation import config
from curation.cli.common import echo_json, echo_table, open_store, progress_bar
from curation.filters import STATUSES, ExampleFilter
from curation.jobs import JobRunner
from curation.operations import base, run
from curation.store import signals as signals_store

app = typer.Typer(help="Curation operations on one protocol: score rows into signals, inspect, apply, undo.",
                  no_args_is_help=True)  # fmt: skip

SignalOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--signal", help="Rows whose signal score is in a range: NAME[@VARIANT]:MIN:MAX (either may be empty)."
    ),
]
SignalLabelOpt = Annotated[
    list[str] | None,
    typer.Option("--signal-label", help="Rows whose signal label is one of: NAME[@VARIANT]=LABEL[,LABEL...]."),
]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", help="Operation parameter k=v (v as JSON if it parses).")
]
StatusOpt = Annotated[list[str] | None, typer.Option("--status", help="Only rows with this status (repeatable).")]
SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="Only rows of this source (repeatable).")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="Only rows with this tag (repeatable).")]
IdsOpt = Annotated[list[int] | None, typer.Option("--id", help="Only this row (repeatable).")]


def _name_variant(text: str, hint: str) -> tuple[str, str | None]:
    name, _, variant = text.partition("@")
    if not name:
        raise typer.BadParameter(f"needs a signal name first; got {text!r}", param_hint=hint)
    return name, (variant if "@" in text else None)


def _number(text: str, hint: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number", param_hint=hint) from None


def signal_options(signal: list[str] | None, signal_label: list[str] | None) -> list[dict[str, Any]]:
    """Signal filter clauses from `--signal NAME[@V]:MIN:MAX` and `--signal-label NAME[@V]=L1,L2` options."""
    clauses: list[dict[str, Any]] = []
    for text in signal or []:
        parts = text.split(":")
        if len(parts) != 3:
            raise typer.BadParameter(
                f"use NAME[@VARIANT]:MIN:MAX (e.g. quality::0.5); got {text!r}", param_hint="--signal"
            )
        name, variant = _name_variant(parts[0], "--signal")
        clauses.append({"name": name, "variant": variant, "min": _number(parts[1], "--signal"),
                        "max": _number(parts[2], "--signal")})  # fmt: skip
    for text in signal_label or []:
        head, sep, labels = text.partition("=")
        if not sep or not labels.strip():
            raise typer.BadParameter(f"use NAME[@VARIANT]=LABEL[,LABEL] (e.g. language=en); got {text!r}",
                                     param_hint="--signal-label")  # fmt: skip
        name, variant = _name_variant(head, "--signal-label")
        clauses.append(
            {"name": name, "variant": variant, "labels": [v.strip() for v in labels.split(",") if v.strip()]}
        )
    return [{k: v for k, v in c.items() if v is not None} for c in clauses]


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """`k=v` pairs; v is read as JSON when it parses (numbers, true/false, lists), else kept as text."""
    params: dict[str, Any] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"use k=v; got {text!r}", param_hint="--param")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _filter(status, source, tag, ids, signal, signal_label) -> ExampleFilter:
    bad = [s for s in status or [] if s not in STATUSES]
    if bad:
        raise typer.BadParameter(f"must be among {', '.join(STATUSES)}; got {', '.join(bad)}", param_hint="--status")
    return ExampleFilter(statuses=status or [], sources=source or [], tags=tag or [], ids=ids or [],
                         signals=signal_options(signal, signal_label))  # fmt: skip


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The registered operations (name, title, parameters) and the signals stored per variant."""
    ops = [{"name": op.name, "title": op.title, "params": json.dumps(dict(op.defaults)), "variant_param":
            op.variant_param or ""} for op in base.all_operations()]  # fmt: skip
    stored = signals_store.catalog(open_store(ctx)).to_dict("records")
    if as_json:
        echo_json({"operations": ops, "stored": stored})
        return
    typer.echo("operations:")
    echo_table(ops, ["name", "title", "variant_param", "params"])
    typer.echo("\nstored signals:")
    echo_table(stored, ["name", "variant", "rows", "scored", "labels", "stale", "last_run"])


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Operation name (see `signals list`).")],
    param: ParamOpt = None,
    rescore: Annotated[bool, typer.Option(help="Score every matching row again, not only new or edited ones.")] = False,
    status: StatusOpt = None,
    source: SourceOpt = None,
    tag: TagOpt = None,
    ids: IdsOpt = None,
    signal: SignalOpt = None,
    signal_label: SignalLabelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score the matching rows that need it (never scored, or edited since; all with --rescore) as a job."""
    params = parse_params(param)
    flt = _filter(status, source, tag, ids, signal, signal_label)
    store = open_store(ctx)
    job = run.scoring_job(name, params, flt, rescore=rescore)
    hook, close = progress_bar(f"signals {name}")
    try:
        result = JobRunner(store).run(run.JOB_KIND, job, run.job_params(name, params, flt, rescore), on_progress=hook)
    finally:
        close()
    if as_json:
        echo_json(result)
        return
    variant = f" [{result['variant']}]" if result["variant"] else ""
    stopped = " (cancelled: a rerun scores the rest)" if result["cancelled"] else ""
    typer.echo(f"{name}{variant}: scored {result['scored']} of {result['to_score']} rows as run {result['run_id']}"
               f"{stopped}")  # fmt: skip


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Signal name.")],
    variant: Annotated[
        str | None, typer.Option(help="Variant (rubric, eval run ...); default: the only one, or ''.")
    ] = None,
    status: StatusOpt = None,
    source: SourceOpt = None,
    tag: TagOpt = None,
    ids: IdsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list, one object per scored row.")] = False,
) -> None:
    """Stored results of a signal: one row per scored example (id, score, label, evidence, version, run_id)."""
    store = open_store(ctx, read_only=True)
    flt = _filter(status, source, tag, ids, None, None)
    if variant is None:
        stored = signals_store.variants(store, name)
        variant = stored[0] if len(stored) == 1 else ""
    frame = signals_store.results(store, name, variant, flt)
    items = [
        {"id": int(r.example_id), "score": None if r.score != r.score else float(r.score),
         "label": r.label if isinstance(r.label, str) else None, "evidence": r.evidence,
         "version": int(r.example_version), "run_id": None if r.run_id != r.run_id else int(r.run_id),
         "stale": bool(r.example_version != r.current_version)}
        for r in frame.itertuples(index=False)
    ]  # fmt: skip
    if as_json:
        echo_json(items)
        return
    if not items and signals_store.variants(store, name) and variant not in signals_store.variants(store, name):
        known = ", ".join(repr(v) for v in signals_store.variants(store, name))
        raise ValueError(f"signal {name!r} has no variant {variant!r}; stored: {known}; pass --variant")
    echo_table([{k: v for k, v in i.items() if k != "evidence"} for i in items],
               ["id", "score", "label", "version", "run_id", "stale"])  # fmt: skip


@app.command("apply")
def apply_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Operation name.")],
    param: ParamOpt = None,
    status: StatusOpt = None,
    source: SourceOpt = None,
    tag: TagOpt = None,
    ids: IdsOpt = None,
    signal: SignalOpt = None,
    signal_label: SignalLabelOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would change.")] = False,
) -> None:
    """Apply the operation's decisions on the stored signals (status + reason, tags, edits) as one undoable action."""
    params = parse_params(param)
    flt = _filter(status, source, tag, ids, signal, signal_label)
    store = open_store(ctx)
    if dry_run:
        found = run.plan(store, name, params, flt)
    else:
        found, result = run.apply_decisions(store, name, params, flt, author=config.get("author"))
    counts = found.counts()
    what = "; ".join(f"{k}: {v}" for k, v in counts.items()) or "nothing"
    stale = (
        f" ({found.stale} rows edited since scoring left out: run `signals run {name}` first)" if found.stale else ""
    )
    if dry_run:
        typer.echo(f"would change {what}{stale}")
        return
    if result.action_id is None:
        typer.echo(f"nothing changed{stale}")
        return
    typer.echo(f"action {result.action_id} ({run.ACTION_KIND}): {result.rows} rows changed: {what}{stale}")
    typer.echo(f"undo it with `undo {result.action_id}`")


@app.command("runs")
def runs_cmd(ctx: typer.Context, name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Recent scoring runs (of one signal, or all)."""
    frame = signals_store.list_runs(open_store(ctx, read_only=True), name)
    echo_table(frame.to_dict("records"), ["id", "name", "variant", "counts", "author", "created_at"])


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="signals")
