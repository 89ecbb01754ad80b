"""CLI: find near-duplicates (ROUGE-L or embeddings), write pairs files, apply and undo, check contamination."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from curation import config, executors
from curation.cli.common import echo_table, open_store, progress_bar
from curation.dedup import contamination, embeddings, runs
from curation.dedup.clusters import GREEDY_ORDERS, KeepRule
from curation.dedup.encoder import BACKENDS
from curation.dedup.index import EXACT_MAX_ROWS, SEARCHES
from curation.dedup.rouge import RULES, TOKENIZERS
from curation.dedup.scopes import SCOPES
from curation.filters import ORIGINS, STATUSES
from curation.io import importers
from curation.jobs import JobRunner
from curation.store import Store
from curation.store import dedup as dedup_store

app = typer.Typer(help="Near-duplicates: ROUGE-L or embedding similarity, review, apply, undo.", no_args_is_help=True)

RuleOpt = Annotated[
    str | None,
    typer.Option(
        help="'ge': score >= threshold is a duplicate; 'gt': score > threshold. Default: 'gt' in greedy mode "
        "(the Self-Instruct / Alpaca filter drops when > 0.7), else 'ge'."
    ),
]
ScopeOpt = Annotated[str, typer.Option(help=f"Compared text: {', '.join(SCOPES)}.")]
ModeOpt = Annotated[
    str, typer.Option(help="'pairs': every pair, clustered; 'greedy': Self-Instruct filter in --order.")
]
OrderOpt = Annotated[str, typer.Option(help=f"Greedy walk order: {', '.join(GREEDY_ORDERS)}.")]
SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="Only rows of this source (repeatable).")]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option("--status", help="Only rows with this status (repeatable; default pending, approved)."),
]
PairsOpt = Annotated[
    Path | None,
    typer.Option(
        "--pairs-out",
        help='Write one JSON line per pair, then one per dropped row: {"dropped", "dropped_row", "kept", '
        '"kept_row", "score"}.',
    ),
]
ApplyOpt = Annotated[bool, typer.Option("--apply", help="Mark the duplicates (one undoable action).")]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run the parallel stages on Ray: 'local' or a cluster address (e.g. 'auto', 'ray://head:10001'); "
        'needs `pip install "ray[data]"` (default: the ray_address setting; empty: this process).',
    ),
]
KeepOriginsOpt = Annotated[
    str,
    typer.Option(
        help="Keep rule (pairs mode): origins in order of preference, after approved status; comma-separated."
    ),
]
LongerOpt = Annotated[
    bool, typer.Option(help="Keep rule: between equals, keep the row with the longer output (else oldest id).")
]


def _check(value: str, allowed: tuple[str, ...] | dict, hint: str) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"must be one of {', '.join(allowed)}; got {value!r}", param_hint=hint)
    return value


def _config(
    method: str, threshold: float, rule: str | None, scope: str, mode: str, order: str, **extra
) -> runs.DedupConfig:
    if not 0.0 < threshold <= 1.0:
        raise typer.BadParameter(f"must be in (0, 1]; got {threshold}", param_hint="--threshold")
    statuses = tuple(extra.pop("statuses") or ("pending", "approved"))
    for status in statuses:
        _check(status, STATUSES, "--status")
    origins = tuple(o.strip() for o in extra.pop("keep_origins").split(",") if o.strip())
    for origin in origins:
        _check(origin, ORIGINS, "--keep-origins")
    keep = KeepRule(origins=origins, longer_output=extra.pop("longer_output"))
    return runs.DedupConfig(
        keep=keep,
        method=method,
        threshold=threshold,
        rule=_check(rule or runs.default_rule(mode), RULES, "--rule"),
        scope=_check(scope, SCOPES, "--scope"),
        mode=_check(mode, runs.MODES, "--mode"),
        order=_check(order, GREEDY_ORDERS, "--order"),
        statuses=statuses,
        **extra,
    )


def _executor(address: str | None) -> executors.Executor:
    """Where the parallel stages run: Ray at --ray (default: the ray_address setting), after checking that Ray is
    installed and a cluster answers (a one-line error otherwise); else this process."""
    address = address if address is not None else config.get("ray_address")
    if address:
        try:
            executors.ray_module()
            if address != "local":
                executors.check_reachable(address)
        except RuntimeError as exc:
            raise typer.BadParameter(str(exc), param_hint="--ray") from None
    return executors.for_address(address)


def _run(
    ctx: typer.Context, cfg: runs.DedupConfig, pairs_out: Path | None, apply: bool, executor: executors.Executor
) -> None:
    store = open_store(ctx)
    author = config.get("author")
    holder: dict[str, runs.DedupOutcome] = {}

    def job(job_ctx) -> dict:
        holder["outcome"] = runs.run_dedup(
            store, cfg, runs.job_progress(job_ctx), job_id=job_ctx.job_id, author=author, executor=executor
        )
        return holder["outcome"].summary()

    hook, close = progress_bar(f"dedup {cfg.method}")
    params = cfg.params() | {"executor": executor.name, "ray_address": getattr(executor, "address", "")}
    try:
        summary = JobRunner(store).run(f"dedup-{cfg.method}", job, params, on_progress=hook)
    finally:
        close()
    outcome = holder["outcome"]
    typer.echo(
        f"run {summary['run_id']} ({cfg.label()}, {cfg.mode}): {summary['rows']:,} rows, {summary['pairs']:,} pairs, "
        f"{summary['clusters']:,} clusters, {summary['duplicates']:,} duplicates"
        + (f", {summary['embedded']:,} rows embedded" if cfg.method == "embedding" else "")
    )
    if pairs_out:
        _write_lines(pairs_out, runs.pair_lines(outcome))
        typer.echo(f"pairs: {pairs_out}")
    if apply:
        _apply(store, summary["run_id"], author)
    else:
        typer.echo(f"nothing changed; apply with --apply or `dedup apply {summary['run_id']}`")


def _write_lines(path: Path, lines: Iterator[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")


def _apply(store: Store, run_id: int, author: str) -> None:
    if not len(dedup_store.duplicate_rows(store, run_id, accepted_only=False)):
        typer.echo(f"run {run_id}: no duplicates; nothing to apply")
        return
    result = runs.apply_run(store, run_id, author=author, accept_all=True)
    typer.echo(
        f"marked {result.rows:,} rows duplicate as action {result.action_id} (undo: `dedup undo {result.action_id}`)"
    )


@app.command("rouge")
def rouge_cmd(
    ctx: typer.Context,
    threshold: Annotated[float, typer.Option(help="ROUGE-L F-measure threshold in (0, 1].")] = 0.7,
    rule: RuleOpt = None,
    scope: ScopeOpt = "instruction",
    mode: ModeOpt = "pairs",
    order: OrderOpt = "seeds_first",
    tokenizer: Annotated[
        str, typer.Option(help="'rouge' (rouge-score, default) or 'unicode' (non-Latin text; not rouge-score).")
    ] = "rouge",
    source: SourceOpt = None,
    status: StatusOpt = None,
    keep_origins: KeepOriginsOpt = ",".join(ORIGINS),
    prefer_longer_output: LongerOpt = True,
    pairs_out: PairsOpt = None,
    apply: ApplyOpt = False,
    ray: RayOpt = None,
) -> None:
    """Find near-duplicates by exact rouge-score ROUGE-L (all pairs or the greedy Self-Instruct filter)."""
    _check(tokenizer, TOKENIZERS, "--tokenizer")
    cfg = _config(
        "rouge",
        threshold,
        rule,
        scope,
        mode,
        order,
        tokenizer=tokenizer,
        sources=tuple(source or ()),
        statuses=status,
        keep_origins=keep_origins,
        longer_output=prefer_longer_output,
    )
    _run(ctx, cfg, pairs_out, apply, _executor(ray))


@app.command("embed")
def embed_cmd(
    ctx: typer.Context,
    threshold: Annotated[float, typer.Option(help="Cosine similarity threshold in (0, 1].")] = 0.9,
    rule: RuleOpt = None,
    scope: ScopeOpt = "instruction",
    mode: ModeOpt = "pairs",
    order: OrderOpt = "seeds_first",
    model: Annotated[
        str | None, typer.Option(help="Local sentence-transformers folder (default: the embedding_model setting).")
    ] = None,
    source: SourceOpt = None,
    status: StatusOpt = None,
    keep_origins: KeepOriginsOpt = ",".join(ORIGINS),
    prefer_longer_output: LongerOpt = True,
    pairs_out: PairsOpt = None,
    apply: ApplyOpt = False,
    ray: RayOpt = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help=f"Embedding runtime: {', '.join(BACKENDS)}. auto: cuda-fp16 on a GPU, else openvino-bf16 on a CPU "
            "with bf16 units, else onnx (fp32); onnx-int8 is faster but less faithful (cosine ~0.99), never chosen "
            "by auto (default: the embedding_backend setting)."
        ),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            help=f"Cosine search: {', '.join(SEARCHES)}; auto uses index candidates (exact re-scoring) above "
            f"{EXACT_MAX_ROWS:,} rows (default: the embedding_search setting)."
        ),
    ] = None,
) -> None:
    """Find near-duplicates by embedding cosine similarity (vectors cached in the database)."""
    cfg = _config(
        "embedding",
        threshold,
        rule,
        scope,
        mode,
        order,
        embedding_model=model,
        embedding_backend=_check(backend, BACKENDS, "--backend") if backend else None,
        embedding_search=_check(search, SEARCHES, "--search") if search else None,
        sources=tuple(source or ()),
        statuses=status,
        keep_origins=keep_origins,
        longer_output=prefer_longer_output,
    )
    executor = _executor(ray)
    try:
        runtime = embeddings.runtime_for(model, cfg.embedding_backend)
    except RuntimeError as exc:  # e.g. cuda-fp16 without a GPU: one line, not a traceback
        raise typer.BadParameter(str(exc), param_hint="--backend") from None
    typer.echo(f"embedding backend: {runtime}")
    _run(ctx, cfg, pairs_out, apply, executor)


@app.command("runs")
def runs_cmd(ctx: typer.Context, limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """List recent dedup and contamination runs."""
    frame = dedup_store.list_runs(open_store(ctx), limit=limit)
    echo_table(frame.astype(object).where(frame.notna(), "").to_dict("records"))


@app.command("apply")
def apply_cmd(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Dedup run id.")]) -> None:
    """Mark the duplicates of a recorded run (every cluster accepted as proposed)."""
    store = open_store(ctx)
    if dedup_store.get_run(store, run_id) is None:
        raise KeyError(f"dedup run {run_id} does not exist; see `dedup runs`")
    _apply(store, run_id, config.get("author"))


@app.command("undo")
def undo_cmd(
    ctx: typer.Context,
    action_id: Annotated[int, typer.Argument(help="Action id printed by apply.")],
    force: Annotated[
        bool, typer.Option("--force", help="Undo even if later work changed rows it marked (overwrites that work).")
    ] = False,
) -> None:
    """Undo an applied dedup (or contamination tag) action in one step; refused if rows were changed since."""
    try:
        result = runs.undo_run(open_store(ctx), action_id, author=config.get("author"), force=force)
    except runs.ChangedSinceApply as err:
        typer.echo(f"error: {err}", err=True)
        for change in err.changed.itertuples(index=False):
            typer.echo(f"  {runs.describe_change(change)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"undid action {action_id}: {result.rows:,} rows restored (action {result.action_id})")


@app.command("contamination")
def contamination_cmd(
    ctx: typer.Context,
    eval_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Evaluation set (never stored).")],
    fmt: Annotated[str | None, typer.Option("--format", help=f"One of: {', '.join(importers.FORMATS)}.")] = None,
    method: Annotated[str, typer.Option(help="'rouge' or 'embedding'.")] = "rouge",
    threshold: Annotated[float | None, typer.Option(help="Default 0.7 (rouge) or 0.9 (embedding).")] = None,
    rule: RuleOpt = "ge",
    scope: ScopeOpt = "instruction",
    source: SourceOpt = None,
    tag: Annotated[bool, typer.Option("--tag", help="Tag matched rows 'contaminated' (one undoable action).")] = False,
) -> None:
    """Compare curated rows with an evaluation file and list (or --tag) the rows that match it."""
    fmt = fmt or importers.guess_format(eval_file.name)
    if fmt is None:
        raise typer.BadParameter("cannot guess the format from the file name; pass --format", param_hint="--format")
    _check(fmt, importers.FORMATS, "--format")
    _check(method, runs.METHODS, "--method")
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise typer.BadParameter(f"must be in (0, 1]; got {threshold}", param_hint="--threshold")
    cfg = contamination.ContaminationConfig(
        method=method,
        threshold=threshold,
        rule=_check(rule, RULES, "--rule"),
        scope=_check(scope, SCOPES, "--scope"),
        sources=tuple(source or ()),
    )
    store = open_store(ctx)
    author = config.get("author")
    job = contamination.contamination_job(eval_file.read_bytes(), eval_file.name, fmt, cfg, author)
    hook, close = progress_bar("contamination")
    try:
        result = JobRunner(store).run("contamination", job, {"eval_file": eval_file.name}, on_progress=hook)
    finally:
        close()
    typer.echo(
        f"run {result['run_id']}: {result['matched_rows']:,} of {result['rows']:,} curated rows match "
        f"{result['eval_rows']:,} evaluation rows ({result['matches']:,} matches)"
    )
    found = dedup_store.matches(store, result["run_id"])
    if len(found):
        echo_table(found.head(20)[["example_id", "eval_row", "score", "instruction"]].to_dict("records"))
    if tag and len(found):
        action = contamination.flag_matches(store, result["run_id"], author=author)
        typer.echo(f"tagged {action.rows:,} rows 'contaminated' as action {action.action_id}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dedup")
