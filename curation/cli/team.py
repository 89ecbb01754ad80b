"""CLI for team review: accounts (`users`), review campaigns (`campaign`), and starting the server (`serve`)."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from curation import config, identity
from curation.cli.common import echo_table, open_store
from curation.filters import STATUSES, ExampleFilter
from curation.store import team as team_store
from curation.store.core import TEAM_FACT
from curation.team import accounts, campaigns

users_app = typer.Typer(help="Accounts: hash a password for the users file, list accounts, the sign-in log.")
campaign_app = typer.Typer(
    help="Review campaigns: assign rows to annotators with overlap, respond, resolve, agreement."
)


@users_app.command("hash")
def users_hash(
    password: Annotated[str | None, typer.Option(help="Password (asked for when left out).")] = None,
) -> None:
    """Print a bcrypt hash to paste as `password_hash` in the users file."""
    typer.echo(accounts.hash_password(password or getpass.getpass("password: ")))


@users_app.command("list")
def users_list() -> None:
    """Accounts in the users file and their roles."""
    if not accounts.auth_enabled():
        raise ValueError(f"login is off: set {config.SETTINGS['users_file'].env} to a users file")
    rows = [
        {"user": a.username, "role": a.role, "name": a.name, "email": a.email}
        for a in accounts.load_accounts().values()
    ]
    echo_table(rows)
    typer.echo("roles: " + "; ".join(f"{r}: {h}" for r, h in identity.ROLE_HELP.items()))


@users_app.command("log")
def users_log(ctx: typer.Context, limit: int = 50) -> None:
    """Recent sign-in attempts (failed ones included)."""
    identity.require("users-log")
    rows = team_store.login_log(open_store(ctx), limit).to_dict("records")
    echo_table([{k: accounts.escape_controls(v) for k, v in row.items()} for row in rows])


@users_app.command("leave-team")
def users_leave_team(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the database will open without a users file.")] = False,
) -> None:
    """Admin only: let this team database open without a users file again (login off, single user)."""
    identity.require("users-leave-team")
    if not accounts.auth_enabled():
        raise ValueError(f"set {config.SETTINGS['users_file'].env} and pass --user with an admin account")
    if not yes:
        raise ValueError("this turns login off for anyone who opens the file without a users file; pass --yes")
    store = open_store(ctx)
    store.drop_fact(TEAM_FACT)
    typer.echo(f"{store.path} is no longer a team database; it opens without a users file until opened with one")


@campaign_app.command("create")
def campaign_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    annotators: Annotated[list[str], typer.Option("--annotator", "-a", help="Annotator user name (repeat).")],
    overlap: Annotated[int, typer.Option("--overlap", "-k", help="Reviews per row.")] = 1,
    status: Annotated[list[str] | None, typer.Option(help=f"Row status filter ({', '.join(STATUSES)}).")] = None,
    origin: Annotated[list[str] | None, typer.Option(help="Origin filter (e.g. generated).")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Source name filter.")] = None,
    guidelines: Annotated[str, typer.Option(help="Guidelines shown to annotators.")] = "",
) -> None:
    """Assign the rows matching the filter to annotators, each row to `--overlap` of them."""
    flt = ExampleFilter(statuses=status or [], origins=origin or [], sources=source or [])
    spec = campaigns.CampaignSpec(name, flt, tuple(annotators), overlap, guidelines)
    store = open_store(ctx)
    cid = campaigns.create(store, spec, author=config.get("author"))
    typer.echo(f"campaign #{cid} '{name}': {len(team_store.assignments(store, cid))} assignments")
    echo_table(campaigns.progress(store, cid).to_dict("records"))


@campaign_app.command("list")
def campaign_list(ctx: typer.Context) -> None:
    """Campaigns, newest first."""
    echo_table(team_store.list_campaigns(open_store(ctx)).to_dict("records"))


@campaign_app.command("show")
def campaign_show(ctx: typer.Context, campaign: int) -> None:
    """Progress per annotator and agreement (Cohen's kappa per pair, Fleiss' kappa, disagreeing rows)."""
    store = open_store(ctx)
    echo_table(campaigns.progress(store, campaign).to_dict("records"))
    report = campaigns.agreement_report(store, campaign)
    typer.echo(f"Fleiss' kappa: {report['fleiss']:.3f} over {report['fleiss_rows']} fully answered rows")
    echo_table(report["pairs"].round(3).to_dict("records"))
    shown = ", ".join(f"#{i}" for i in report["disagreements"][:30])
    typer.echo(f"disagreements ({len(report['disagreements'])}): {shown or 'none'}")


@campaign_app.command("respond")
def campaign_respond(
    ctx: typer.Context,
    campaign: int,
    example_id: int,
    decision: Annotated[str, typer.Argument(help="approved or rejected")],
    reason: Annotated[str, typer.Option(help="Why (optional).")] = "",
) -> None:
    """Record your decision on a row assigned to you (others' decisions are kept separately)."""
    campaigns.respond(open_store(ctx), campaign, example_id, decision, annotator=config.get("author"), reason=reason)
    typer.echo(f"recorded {decision} on #{example_id} for {config.get('author')}")


@campaign_app.command("resolve")
def campaign_resolve(
    ctx: typer.Context,
    campaign: int,
    rule: Annotated[str, typer.Option(help="unanimous or majority")] = "majority",
    call: Annotated[
        list[str] | None, typer.Option(help="A curator's final call ID=approved|rejected (repeat).")
    ] = None,
) -> None:
    """Set row statuses from the responses by a rule, as one undoable action."""
    calls = {}
    for item in call or []:
        key, _, value = item.partition("=")
        if not key.strip().isdigit() or not value:
            raise ValueError(f"--call takes ID=approved|rejected; got {item!r}")
        calls[int(key)] = value.strip()
    result = campaigns.resolve(open_store(ctx), campaign, rule, author=config.get("author"), final_calls=calls)
    typer.echo(f"resolved {result.rows} rows (action #{result.action_id}; undo with `undo {result.action_id}`)")


def serve(
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8501,
    allow_open: Annotated[bool, typer.Option("--allow-open", help="Listen beyond localhost with login off.")] = False,
) -> None:
    """Start the app. Beyond localhost it needs a users file (login), or --allow-open and a warning."""
    if not accounts.serves_locally_only(address) and not accounts.auth_enabled():
        if not allow_open:
            raise ValueError(
                f"refusing to listen on {address} with login off: set {config.SETTINGS['users_file'].env} "
                "to a users file, or pass --allow-open on a trusted network"
            )
        typer.echo(f"WARNING: listening on {address} with login OFF: anyone who can reach it can change data", err=True)
    env = os.environ | ({"INSTRUCT_CURATOR_ALLOW_OPEN": "1"} if allow_open else {})
    app = Path(__file__).resolve().parents[2] / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", address, "--server.port", str(port)]
    raise typer.Exit(subprocess.call(cmd, env=env))


def register(root: typer.Typer) -> None:
    root.add_typer(users_app, name="users")
    root.add_typer(campaign_app, name="campaign")
    root.command("serve")(serve)
