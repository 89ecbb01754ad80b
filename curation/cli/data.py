"""CLI: import files and show statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from curation import config, importers
from curation.cli.common import echo_json, echo_table, open_store
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
        typer.Option(help='Column mapping for csv/parquet, as JSON: {"instruction": "question", "output": "answer"}.'),
    ] = None,
) -> None:
    """Import a file (one transaction; nothing is written if any line is bad)."""
    if fmt is not None and fmt not in importers.FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(importers.FORMATS)}; got {fmt!r}", param_hint="--format")
    try:
        column_map = json.loads(mapping) if mapping else None
    except json.JSONDecodeError as err:
        raise typer.BadParameter(f"not valid JSON ({err.msg})", param_hint="--mapping") from None
    store = open_store(ctx)
    result = importers.import_file(
        store, file, fmt, source_name=source, mapping=column_map, origin=origin, author=config.get("author")
    )
    typer.echo(f"imported {result.rows} rows from {file.name} as source #{result.source_id}")


def stats_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts by origin, status, source and tag."""
    store = open_store(ctx)
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


def register(root: typer.Typer) -> None:
    root.command("import")(import_cmd)
    root.command("stats")(stats_cmd)
