"""Headless CLI: `python -m curation ...`. Each module in this package adds its commands via `register(root)`."""

from __future__ import annotations

import importlib
import pkgutil

import typer

from curation.cli.common import CuratorGroup, root_callback

app = typer.Typer(
    cls=CuratorGroup,
    help="instruct-curator: build, curate, deduplicate, mix and fine-tune instruction datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.callback()(root_callback)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "common"):
    importlib.import_module(f"{__name__}.{_module}").register(app)
