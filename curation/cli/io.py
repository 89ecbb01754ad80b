"""CLI: import files, export filtered rows, show statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from curation import config
from curation.cli.common import echo_json, echo_table, open_store, progress_bar
from curation.cli.signals import SignalLabelOpt, SignalOpt, signal_options
from curation.filters import ORIGINS, STATUSES, ExampleFilter
from curation.io import export, importers
from curation.store import examples


def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File to import.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help=f"One of: {', '.join(importers.FORMATS)}. Guessed from the file name when omitted."
        ),
    ] = None,
    source: Annotated[str | None, typer.Option(help="Source name (default: the file name without extension).")] = None,
    origin: Annotated[str | None, typer.Option(help="Origin: seed, templated, generated or imported.")] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            help="Field mapping for alpaca, jsonl, csv and parquet, as JSON: target -> field name or nested path "
            '(dots; list positions as numbers), e.g. {"instruction": "question", "output": "response"} or '
            '{"instruction": "conversation.0.text", "output": "conversation.1.text"}. Unmapped fields go to meta.'
        ),
    ] = None,
    allow_missing_output: Annotated[
        bool, typer.Option(help="Accept Alpaca rows without 'output' (an instruction-only file); they get ''.")
    ] = False,
    reimport: Annotated[
        bool,
        typer.Option(help="Import a file whose exact content (sha256) was imported before, adding its rows again."),
    ] = False,
) -> None:
    """Import a file (one transaction; nothing is written if any line is bad)."""
    if fmt is not None and fmt not in importers.FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(importers.FORMATS)}; got {fmt!r}", param_hint="--format")
    try:
        column_map = json.loads(mapping) if mapping else None
    except json.JSONDecodeError as err:
        raise typer.BadParameter(f"not valid JSON ({err.msg})", param_hint="--mapping") from None
    store = open_store(ctx)
    try:
        result = importers.import_file(
            store,
            file,
            fmt,
            source_name=source,
            mapping=column_map,
            origin=origin,
            author=config.get("author"),
            allow_missing_output=allow_missing_output,
            reimport=reimport,
        )
    except importers.InvalidInputError as err:
        raise importers.InvalidInputError([_with_flags(e) for e in err.errors]) from None
    typer.echo(f"imported {result.rows} rows from {file.name} as source #{result.source_id}")
    if reimport and len(examples.sources_with_sha256(store, result.sha256)) > 1:
        typer.echo(f"warning: {file.name} had been imported before; its rows are now in the store twice", err=True)


# The library's messages name the options as the page shows them; the CLI adds its flags.
_FLAGS = {
    importers.ALLOW_MISSING_OUTPUT: f"{importers.ALLOW_MISSING_OUTPUT} (--allow-missing-output)",
    "confirm to import it again": "confirm with --reimport",
}


def _with_flags(message: str) -> str:
    for option, flagged in _FLAGS.items():
        message = message.replace(option, flagged)
    return message


def stats_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts by origin, status, source and tag."""
    store = open_store(ctx, read_only=True)
    data = {
        "total": examples.count(store),
        **{col: examples.counts_by(store, col).to_dict("records") for col in ("origin", "status", "source", "tag")},
    }
    if as_json:
        echo_json(data)
        return
    typer.echo(f"total: {data['total']} examples")
    for col in ("origin", "status", "source", "tag"):
        typer.echo(f"\nby {col}:")
        echo_table(data[col])


def _choices(values: list[str], allowed: tuple[str, ...], hint: str) -> list[str]:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise typer.BadParameter(f"must be among {', '.join(allowed)}; got {', '.join(bad)}", param_hint=hint)
    return values


def export_cmd(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(export.EXPORT_FORMATS)}.")] = "alpaca",
    out: Annotated[
        Path | None, typer.Option(help="Output file (default: a new timestamped file under exports_dir).")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Status to export (repeatable); 'all' for every status.")
    ] = None,
    search: Annotated[str, typer.Option(help="Only rows whose text contains this (case-insensitive).")] = "",
    source: Annotated[list[str] | None, typer.Option(help="Source name (repeatable).")] = None,
    origin: Annotated[list[str] | None, typer.Option(help="Origin (repeatable): seed, templated, ...")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag (repeatable; rows with any of them).")] = None,
    task: Annotated[list[str] | None, typer.Option(help="Task name (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out (and its manifest) if they exist.")] = False,
    signal: SignalOpt = None,
    signal_label: SignalLabelOpt = None,
) -> None:
    """Export rows (default: approved) as Alpaca JSON, OpenAI messages JSONL, ShareGPT JSON (+ dataset_info.json) or
    Parquet, with a manifest beside the file."""
    if fmt not in export.EXPORT_FORMATS:
        raise typer.BadParameter(
            f"must be one of {', '.join(export.EXPORT_FORMATS)}; got {fmt!r}", param_hint="--format"
        )
    statuses = status or ["approved"]
    statuses = [] if "all" in statuses else _choices(statuses, STATUSES, "--status")
    flt = ExampleFilter(
        search=search,
        statuses=statuses,
        sources=source or [],
        origins=_choices(origin or [], ORIGINS, "--origin"),
        tags=tag or [],
        tasks=task or [],
        signals=signal_options(signal, signal_label),
    )
    store = open_store(ctx, read_only=True)  # an export only reads: no job row, the database file is not touched
    if examples.count(store, flt) == 0:
        raise ValueError(f"no rows match the filter ({flt.describe()}); nothing to export")
    hook, close = progress_bar("export")
    try:
        done = export.export(
            store, flt, fmt, out, progress=lambda n, total, message: hook(n / total, message), overwrite=force
        )
    finally:
        close()
    typer.echo(f"exported {done.manifest['rows']} rows ({flt.describe()}) to {done.path}")
    typer.echo(f"manifest: {done.manifest_path}")


def register(root: typer.Typer) -> None:
    root.command("import")(import_cmd)
    root.command("export")(export_cmd)
    root.command("stats")(stats_cmd)
