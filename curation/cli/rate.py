"""CLI: LLM-judge ratings (`rate run / show / reject-below`) and Evol-Instruct rewrites (`evolve`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from curation import config
from curation.cli.common import echo_table, open_store, progress_bar
from curation.filters import ExampleFilter
from curation.generate import endpoints, evol
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY
from curation.generate.llm import BACKENDS, LLMError, make_llm
from curation.jobs import JobRunner
from curation.operations import judge as ratings
from curation.store import ratings as ratings_table

rate_app = typer.Typer(help="LLM-judge quality ratings: rate rows, see scores, reject the rows below a score.")

Backend = Annotated[str, typer.Option(help=f"One of {', '.join(BACKENDS)}.")]
Model = Annotated[str | None, typer.Option(help="local: a model folder; openai: the model name.")]
BaseUrl = Annotated[str | None, typer.Option(help="openai: server URL, e.g. http://127.0.0.1:8000/v1.")]
KeyEnv = Annotated[str, typer.Option(help="openai: environment variable holding the API key.")]
Concurrency = Annotated[int, typer.Option(help="Requests in flight (local model: prompts per batch).")]
Status = Annotated[list[str] | None, typer.Option("--status", help="Only rows with this status (repeatable).")]
Source = Annotated[list[str] | None, typer.Option("--source", help="Only rows of this source (repeatable).")]


def _llm(store, backend: str, model: str | None, base_url: str | None, api_key_env: str, chat: bool):
    if backend not in BACKENDS:
        raise typer.BadParameter(f"must be one of {', '.join(BACKENDS)}; got {backend!r}", param_hint="--backend")
    if backend == "openai" and not (base_url and model):
        raise typer.BadParameter("the openai backend needs --base-url and --model", param_hint="--base-url")
    options = {"model": model, "base_url": base_url, "api_key_env": api_key_env, "chat": chat}
    return make_llm(backend, allowed=endpoints.allowed(store), **options)


def _run(store, kind: str, job, params: dict) -> dict:
    hook, close = progress_bar(kind)
    try:
        return JobRunner(store).run(kind, job, params, hook)
    except LLMError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    finally:
        close()


@rate_app.command("run")
def rate_run(
    ctx: typer.Context,
    backend: Backend = "fake",
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = "OPENAI_API_KEY",
    chat: Annotated[bool, typer.Option(help="openai: use /chat/completions.")] = False,
    rubric: Annotated[str, typer.Option(help="Rubric name; ratings are stored per row and rubric.")] = "accuracy",
    prompt_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Rubric prompt with {instruction} {input} {output}."),
    ] = None,
    rerate: Annotated[bool, typer.Option(help="Rate rows that already have a rating under this rubric again.")] = False,
    status: Status = None,
    source: Source = None,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
) -> None:
    """Rate rows with an LLM judge (score + reason per row); rows already rated are skipped unless --rerate."""
    prompt = prompt_file.read_text(encoding="utf-8") if prompt_file else None
    store = open_store(ctx)
    known = ratings_table.rubrics(store)
    cfg = ratings.RatingConfig(rubric=rubric, prompt=prompt or known.get(rubric, ratings.DEFAULT_RUBRIC), rerate=rerate)
    flt = ExampleFilter(statuses=status or [], sources=source or [])
    llm = _llm(store, backend, model, base_url, api_key_env, chat)
    job = ratings.rating_job(llm, cfg, flt, concurrency=concurrency)
    result = _run(store, ratings.JOB_KIND, job, ratings.job_params(cfg, backend, llm.name, flt, concurrency))
    typer.echo(f"rated {result['rated']} rows under {rubric!r}; {result['unusable']} answers had no usable score")


@rate_app.command("show")
def rate_show(
    ctx: typer.Context,
    rubric: Annotated[str, typer.Option(help="Rubric name.")] = "accuracy",
    limit: Annotated[int, typer.Option(help="Lowest-scored rows to list.")] = 10,
) -> None:
    """Score histogram of a rubric and its lowest-scored rows with the judge's reasons."""
    frame = ratings_table.ratings(open_store(ctx), rubric)
    if frame.empty:
        typer.echo(f"no ratings under {rubric!r}; run `python -m curation rate run --rubric {rubric}` first")
        return
    counts = frame["score"].fillna(-1).value_counts().sort_index()
    echo_table([{"score": "no score" if s == -1 else f"{s:g}", "rows": int(n)} for s, n in counts.items()])
    typer.echo(f"mean {np.nanmean(frame['score']):.2f} over {frame['score'].notna().sum()} scored rows")
    low = frame.sort_values("score").head(limit)
    echo_table([{"id": int(r.example_id), "score": r.score, "reason": str(r.reason)[:80]} for r in low.itertuples()])


@rate_app.command("reject-below")
def rate_reject_below(
    ctx: typer.Context,
    threshold: Annotated[float, typer.Argument(help="Reject rows scored below this.")],
    rubric: Annotated[str, typer.Option(help="Rubric name.")] = "accuracy",
    status: Status = None,
) -> None:
    """Reject every row scored below THRESHOLD as one undoable action (`python -m curation` Overview/undo)."""
    action = ratings.reject_below(
        open_store(ctx), rubric, threshold, author=config.get("author"), flt=ExampleFilter(statuses=status or [])
    )
    if action is None:
        typer.echo(f"no rows are rated below {threshold:g} under {rubric!r}; nothing changed")
        return
    typer.echo(f"rejected {action.rows} rows (action #{action.action_id}; undo it from the Overview or Review page)")


def evolve_cmd(
    ctx: typer.Context,
    mode: Annotated[str, typer.Option(help=f"One of {', '.join(evol.MODES)}.")] = "deeper",
    backend: Backend = "fake",
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = "OPENAI_API_KEY",
    chat: Annotated[bool, typer.Option(help="openai: use /chat/completions.")] = False,
    prompt_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Rewrite prompt containing {instruction}.")
    ] = None,
    ids: Annotated[list[int] | None, typer.Option("--id", help="Rewrite this row (repeatable).")] = None,
    status: Status = None,
    source: Source = None,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
) -> None:
    """Evol-Instruct: rewrite rows deeper or broader; answered rewrites land as pending rows linked to their parent."""
    cfg = evol.EvolConfig(mode=mode, prompt=prompt_file.read_text(encoding="utf-8") if prompt_file else "")
    flt = ExampleFilter(ids=ids or [], statuses=status or [], sources=source or [])
    if not flt.to_dict():
        raise typer.BadParameter("choose rows with --id, --status or --source", param_hint="--id")
    store = open_store(ctx)
    llm = _llm(store, backend, model, base_url, api_key_env, chat)
    job = evol.evol_job(llm, cfg, flt, backend=backend, concurrency=concurrency)
    params = {"backend": backend, "model": llm.name, "mode": mode, "filter": flt.to_dict()}
    result = _run(store, evol.JOB_KIND, job, params)
    typer.echo(f"added {result['rows']} pending rows (source {result['source']}) from {result['parents']} rows")


def register(root: typer.Typer) -> None:
    root.add_typer(rate_app, name="rate")
    root.command("evolve")(evolve_cmd)
