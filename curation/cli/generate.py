"""CLI: run Self-Instruct generation with a local, OpenAI-compatible or fake model; list dropped candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curation import config
from curation.cli.common import echo_table, open_store, progress_bar
from curation.generate import endpoints
from curation.generate import selfinstruct as si
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY
from curation.generate.llm import BACKENDS, LLMError, make_llm
from curation.generate.selfinstruct_job import JOB_KIND, generation_job, job_params, resumable_run
from curation.io import importers
from curation.jobs import JobRunner
from curation.store import templates as drops_table


def generate_cmd(
    ctx: typer.Context,
    backend: Annotated[str, typer.Option(help=f"One of {', '.join(BACKENDS)}.")] = "local",
    n: Annotated[int, typer.Option("--n", help="Instructions to keep (each with up to 5 instances).")] = 20,
    model: Annotated[
        str | None, typer.Option(help="local: a model folder (default: packaged SmolLM2); openai: the model name.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="openai: server URL, e.g. http://127.0.0.1:8000/v1.")] = None,
    api_key_env: Annotated[
        str, typer.Option(help="openai: environment variable holding the API key.")
    ] = "OPENAI_API_KEY",
    chat: Annotated[bool, typer.Option(help="openai: use /chat/completions instead of /completions.")] = False,
    timeout: Annotated[float, typer.Option(help="openai: seconds per request.")] = 60.0,
    max_retries: Annotated[int, typer.Option(help="openai: retries on timeouts and 5xx, with backoff.")] = 3,
    seeds: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Import this Self-Instruct seed file first.")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature for new instructions.")] = 0.7,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling for new instructions.")] = 0.5,
    max_tokens: Annotated[int, typer.Option(help="Token limit per instruction prompt.")] = 512,
    instance_max_tokens: Annotated[int, typer.Option(help="Token limit per instance-generation answer.")] = 300,
    rouge_threshold: Annotated[float, typer.Option(help="Drop when ROUGE-L > this against the pool.")] = 0.7,
    blacklist: Annotated[str, typer.Option(help="Keyword list: selfinstruct or alpaca (adds video, audio...).")] = (
        "selfinstruct"
    ),
    extra_blacklist: Annotated[str | None, typer.Option(help="More blacklisted words, comma-separated.")] = None,
    max_prompts: Annotated[int | None, typer.Option(help="Give up after this many prompts (default 4n+10).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for prompt sampling (and the local/fake model).")] = 0,
    concurrency: Annotated[
        int, typer.Option(help="Requests in flight (local model: prompts per batch); never changes decisions.")
    ] = DEFAULT_CONCURRENCY,
    prompt_batch: Annotated[int, typer.Option(help="Prompts per round, drawn from the pool as it stood.")] = 16,
    presence_penalty: Annotated[float, typer.Option(help="openai: for instruction prompts (original: 2).")] = 2.0,
    instance_presence_penalty: Annotated[
        float, typer.Option(help="openai: for instance prompts (original: 1.5).")
    ] = 1.5,
    capitalize: Annotated[bool, typer.Option(help="str.capitalize() each instruction, as the original.")] = True,
    instance_sampling: Annotated[str, typer.Option(help="random (original) or first: which 5 instances.")] = "random",
    keep_truncated_prefix: Annotated[
        bool, typer.Option(help="On a length-cut answer keep all but the last item (original: drop all).")
    ] = False,
    requests_per_min: Annotated[int | None, typer.Option(help="openai: rate limit, requests per minute.")] = None,
    tokens_per_min: Annotated[
        int | None, typer.Option(help="openai: rate limit, tokens per minute (from usage).")
    ] = None,
    cost_per_1k: Annotated[float | None, typer.Option(help="Price per 1K tokens, to report the run's cost.")] = None,
    resume: Annotated[
        int | None, typer.Option(help="Continue this interrupted run (its settings; backend options given here).")
    ] = None,
) -> None:
    """Generate instructions Self-Instruct style; accepted tasks land as pending rows for review."""
    if backend not in BACKENDS:
        raise typer.BadParameter(f"must be one of {', '.join(BACKENDS)}; got {backend!r}", param_hint="--backend")
    if blacklist not in si.BLACKLISTS:
        raise typer.BadParameter(f"must be one of {', '.join(si.BLACKLISTS)}", param_hint="--blacklist")
    if backend == "openai" and not (base_url and model):
        raise typer.BadParameter("the openai backend needs --base-url and --model", param_hint="--base-url")
    words = si.BLACKLISTS[blacklist] + tuple(w.strip() for w in (extra_blacklist or "").split(",") if w.strip())
    if concurrency < 1:
        raise typer.BadParameter(f"must be >= 1; got {concurrency}", param_hint="--concurrency")
    try:
        cfg = si.GenerationConfig(
            n_instructions=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            instance_max_tokens=instance_max_tokens,
            rouge_threshold=rouge_threshold,
            blacklist=words,
            max_prompts=max_prompts,
            seed=seed,
            prompt_batch=prompt_batch,
            presence_penalty=presence_penalty,
            instance_presence_penalty=instance_presence_penalty,
            capitalize=capitalize,
            instance_sampling=instance_sampling,
            keep_truncated_prefix=keep_truncated_prefix,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--n") from None
    store = open_store(ctx)
    if resume is not None:
        try:
            first, cfg = resumable_run(store, resume)
        except ValueError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        resume = int(first["id"])
    if seeds is not None:
        done = importers.import_file(store, seeds, "selfinstruct-seed", author=config.get("author"))
        typer.echo(f"imported {done.rows} seed rows from {seeds.name}")
    options = {"model": model, "base_url": base_url, "api_key_env": api_key_env, "chat": chat, "seed": seed}
    options |= {"timeout": timeout, "max_retries": max_retries}
    options |= {"requests_per_min": requests_per_min, "tokens_per_min": tokens_per_min}
    try:
        llm = make_llm(backend, allowed=endpoints.allowed(store), **options)
    except endpoints.EndpointNotAllowed:
        raise
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--backend") from None
    job = generation_job(llm, cfg, backend=backend, concurrency=concurrency, cost_per_1k=cost_per_1k, resume_of=resume)
    params = job_params(cfg, backend, llm.name, options, concurrency=concurrency, resume_of=resume)
    hook, close = progress_bar("generate")
    try:
        result = JobRunner(store).run(JOB_KIND, job, params, hook)
    except LLMError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    finally:
        close()
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(result["dropped"].items(), key=lambda kv: -kv[1]))
    typer.echo(
        f"kept {result['kept']} instructions ({result['rows']} pending rows, source {result['source']}) "
        f"from {result['prompts']} prompts; dropped {sum(result['dropped'].values())}"
        + (f": {dropped}" if dropped else "")
    )
    usage = result["usage"]
    cost = f", cost {result['cost']:.4f}" if result["cost"] is not None else ""
    typer.echo(
        f"requests {usage['requests']}, tokens {usage['prompt_tokens']} prompt + {usage['completion_tokens']} "
        f"completion{cost}"
    )
    if result["cancelled"]:
        typer.echo(f"cancelled; continue with: python -m curation generate --resume {result['run_id']} ...")
    if result["budget_spent"]:
        typer.echo(f"note: stopped after the prompt budget ({cfg.prompt_budget}); raise --max-prompts to go on")


def drops_cmd(
    ctx: typer.Context,
    job: Annotated[int | None, typer.Option(help="Only this generation job.")] = None,
    reason: Annotated[str | None, typer.Option(help=f"Only this reason ({', '.join(si.DROP_REASONS)}).")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List candidates a generation run dropped, with the reason for each."""
    store = open_store(ctx)
    if reason and reason not in si.DROP_REASONS:
        raise typer.BadParameter(f"must be one of {', '.join(si.DROP_REASONS)}", param_hint="--reason")
    typer.echo("counts:")
    echo_table(drops_table.drop_counts(store, job).to_dict("records"))
    frame = drops_table.list_drops(store, job, reason, limit)
    frame["instruction"] = frame["instruction"].str.slice(0, 70)
    typer.echo("\ndropped candidates:")
    echo_table(frame[["id", "job_id", "stage", "reason", "instruction"]].to_dict("records"))


def register(root: typer.Typer) -> None:
    root.command("generate")(generate_cmd)
    root.command("generate-drops")(drops_cmd)
