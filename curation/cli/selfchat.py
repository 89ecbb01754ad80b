"""CLI: self-chat (`self-chat`): grow seed rows into multi-turn conversations with a user simulator and an assistant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curation.cli.common import open_store
from curation.cli.rate import Backend, BaseUrl, Concurrency, KeyEnv, Model, Source, Status, _llm, _run
from curation.filters import ExampleFilter
from curation.generate import selfchat
from curation.generate.concurrent_requests import DEFAULT_CONCURRENCY

PromptFile = Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="Prompt containing {transcript}.")]


def self_chat_cmd(
    ctx: typer.Context,
    turns: Annotated[int, typer.Option(help="Exchanges (user + assistant) per conversation, 1-20.")] = 3,
    system: Annotated[str, typer.Option(help="A system prompt for every conversation.")] = "",
    backend: Backend = "fake",
    model: Model = None,
    base_url: BaseUrl = None,
    api_key_env: KeyEnv = "OPENAI_API_KEY",
    chat: Annotated[bool, typer.Option(help="openai: use /chat/completions.")] = False,
    user_prompt: PromptFile = None,
    assistant_prompt: PromptFile = None,
    ids: Annotated[list[int] | None, typer.Option("--id", help="Start from this row (repeatable).")] = None,
    status: Status = None,
    source: Source = None,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
) -> None:
    """Self-chat (Baize / UltraChat): each chosen row's instruction opens a conversation of N exchanges; the
    conversations land as pending rows (source self-chat-job-N) to review in Browse."""
    prompts = {
        name: path.read_text(encoding="utf-8")
        for name, path in (("user_prompt", user_prompt), ("assistant_prompt", assistant_prompt))
        if path
    }
    try:
        cfg = selfchat.SelfChatConfig(turns=turns, system=system, **prompts)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--turns") from None
    flt = ExampleFilter(ids=ids or [], statuses=status or [], sources=source or [])
    if not flt.to_dict():
        raise typer.BadParameter("choose seed rows with --id, --status or --source", param_hint="--id")
    store = open_store(ctx)
    llm = _llm(store, backend, model, base_url, api_key_env, chat)
    job = selfchat.self_chat_job(llm, cfg, flt, backend=backend, concurrency=concurrency)
    params = {"backend": backend, "model": llm.name, "turns": turns, "filter": flt.to_dict()}
    result = _run(store, selfchat.JOB_KIND, job, params)
    stopped = {k: v for k, v in result.items() if k.startswith(("empty_", "repeated_")) and v}
    typer.echo(
        f"added {result['rows']} pending conversations (source {result['source']}) from {result['parents']} rows"
        + (f"; stopped early: {stopped}" if stopped else "")
    )


def register(root: typer.Typer) -> None:
    root.command("self-chat")(self_chat_cmd)
