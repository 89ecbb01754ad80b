"""Shared CLI plumbing: the --db option, one store per invocation, one-line errors, progress bars."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TextIO

import click
import typer
from tqdm import tqdm

from curation import config, identity
from curation.io.importers import InvalidInputError
from curation.jobs import JobCancelled
from curation.store import ConflictError, Store, StoreAccessError
from curation.team import accounts

# Errors a user can act on: shown as one line, exit code 1, no traceback.
USER_ERRORS = (
    StoreAccessError,
    InvalidInputError,
    ConflictError,
    ValueError,
    KeyError,
    OSError,
    JobCancelled,
)


class CuratorGroup(typer.core.TyperGroup):
    """Root group that turns user errors into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            typer.echo(f"error: {str(message).splitlines()[0] if message else type(err).__name__}", err=True)
            raise typer.Exit(1) from None


DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", envvar=config.SETTINGS["db"].env, help="DuckDB file (default: the app's database).", show_default=False
    ),
]


UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        envvar=config.SETTINGS["cli_user"].env,
        help="Account to act as when a users file is set (its role decides what you may do).",
        show_default=False,
    ),
]


def root_callback(ctx: typer.Context, db: DbOption = None, user: UserOption = None) -> None:
    """instruct-curator: build, curate, deduplicate, mix and fine-tune instruction datasets."""
    ctx.obj = {"db": db or config.get_path("db")}
    if ctx.resilient_parsing or "--help" in ctx.args:
        return
    try:
        acting = accounts.cli_user(user)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    ctx.with_resource(identity.acting_as(acting))


def open_store(ctx: typer.Context, *, read_only: bool = False) -> Store:
    """The invocation's store, opened on first use and closed when the command ends.

    Commands that only read (stats, export, previews) pass `read_only`, so they never change the file.
    """
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {"db": config.get_path("db")}
    key = "store_ro" if read_only else "store"
    if key not in obj:
        obj[key] = Store(obj["db"], read_only=read_only)
        root.call_on_close(obj[key].close)
    root.obj = obj
    return obj[key]


LINE_SECONDS = 5.0  # progress written to a file or pipe: one plain line at most this often


def progress_bar(
    description: str, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
) -> tuple[Callable[[float, str | None], None], Callable[[], None]]:
    """Progress driven by job progress fractions; returns (hook, close). On a terminal a tqdm bar redrawn in
    place; to a file or pipe (a log) a plain line every LINE_SECONDS and one at the end, never a carriage
    return."""
    stream = stream or sys.stderr
    if os.environ.get("CURATION_NO_PROGRESS") == "1":
        return (lambda fraction, message: None), (lambda: None)
    if not stream.isatty():
        return _progress_lines(description, stream, clock)
    bar = tqdm(
        file=stream,
        total=1000,
        desc=description,
        unit="‰",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
    )

    def hook(fraction: float, message: str | None) -> None:
        bar.n = int(min(1.0, max(0.0, fraction)) * 1000)
        if message:
            bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()

    return hook, bar.close


def _progress_lines(
    description: str, stream: TextIO, clock: Callable[[], float]
) -> tuple[Callable[[float, str | None], None], Callable[[], None]]:
    start = clock()
    state = {"written": -LINE_SECONDS, "fraction": 0.0, "message": "", "pending": False}

    def write() -> None:
        elapsed = clock() - start
        message = f" {state['message']}" if state["message"] else ""
        stream.write(f"{description}: {state['fraction']:4.0%}{message} ({elapsed:.0f} s)\n")
        stream.flush()
        state["written"], state["pending"] = elapsed, False

    def hook(fraction: float, message: str | None) -> None:
        state["fraction"] = min(1.0, max(0.0, fraction))
        state["message"] = message or state["message"]
        state["pending"] = True
        if clock() - start - state["written"] >= LINE_SECONDS:
            write()

    def close() -> None:
        if state["pending"]:
            write()

    return hook, close


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def echo_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """Plain aligned text table (no colour codes, friendly to logs)."""
    if not rows:
        typer.echo("(no rows)")
        return
    columns = columns or list(rows[0])
    widths = [max(len(str(c)), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    typer.echo("  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        typer.echo("  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)))
