"""CLI: the admin's allowlist of LLM endpoints (key variable, base URL) that apply when a users file is set."""

from __future__ import annotations

from typing import Annotated

import typer

from curation import config
from curation.cli.common import echo_table, open_store
from curation.generate import endpoints
from curation.store import team as team_store

app = typer.Typer(
    help="LLM endpoints curators may use when a users file is set: which key variable goes to which base URL.",
    no_args_is_help=True,
)
KeyVar = Annotated[str, typer.Argument(help="Environment variable holding the API key ('' for none).")]
BaseUrl = Annotated[str, typer.Argument(help="Base URL, e.g. https://api.example.com/v1.")]


@app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """Allowed endpoints: from the llm_endpoints setting and those admins added."""
    store = open_store(ctx)
    added = {(r["api_key_env"], r["base_url"]): r for r in team_store.list_endpoints(store)}
    rows = [
        {
            "base_url": e.base_url,
            "key_variable": e.api_key_env or "(none)",
            "from": f"added by {added[(e.api_key_env, e.base_url)]['added_by']}"
            if (e.api_key_env, e.base_url) in added
            else "setting",
        }
        for e in endpoints.allowed(store)
    ]
    echo_table(rows)
    if not endpoints.team_mode():
        typer.echo("login is off (no users file): any endpoint may be used; this list applies with a users file")


@app.command("add")
def add_cmd(ctx: typer.Context, api_key_env: KeyVar, base_url: BaseUrl) -> None:
    """Admin only: allow sending this key variable to this base URL."""
    endpoint = endpoints.add(open_store(ctx), api_key_env, base_url, config.get("author"))
    typer.echo(f"allowed {endpoint.label}")


@app.command("remove")
def remove_cmd(ctx: typer.Context, api_key_env: KeyVar, base_url: BaseUrl) -> None:
    """Admin only: withdraw an endpoint (one from the llm_endpoints setting stays until the setting changes)."""
    endpoint = endpoints.make_endpoint(api_key_env, base_url)
    if endpoints.remove(open_store(ctx), api_key_env, base_url):
        typer.echo(f"removed {endpoint.label}")
    else:
        raise ValueError(f"{endpoint.label} was not added with `endpoints add`; nothing removed")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="endpoints")
