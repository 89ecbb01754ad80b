"""CLI: the audit list, undo and redo (never clobbering later work), and review decisions by id or filter."""

from __future__ import annotations

from typing import Annotated

import typer

from curation import config
from curation.cli import report as drop_cli
from curation.cli.common import echo_json, echo_table, open_store
from curation.filters import ORIGINS, STATUSES, ExampleFilter
from curation.store import examples, revisions
from curation.store.actions import UndoConflictError
from curation.store.changes import plural, row_list

app = typer.Typer(help="Recorded actions (edits, reviews, tags, dedup, undo, redo).", invoke_without_command=True)
DECISIONS = {"approve": "approved", "reject": "rejected", "pending": "pending"}

ActionArg = Annotated[int, typer.Argument(help="Action id (see `actions list`).")]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Also overwrite rows changed since (their later work is lost).")
]
SkipOpt = Annotated[bool, typer.Option("--skip-changed", help="Leave rows changed since as they are; do the rest.")]


@app.callback()
def actions_root(ctx: typer.Context) -> None:
    """Recorded actions; without a subcommand, the same as `actions list`."""
    if ctx.invoked_subcommand is None:
        list_cmd(ctx)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="Only this kind (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="Newest actions to show.", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Newest actions first: what changed on which rows, who, when, and whether it is undone."""
    frame = revisions.list_actions(open_store(ctx), kind or None, limit)
    records = [
        {
            "id": int(r.id),
            "kind": r.kind,
            "state": "undone" if r.undone else "in effect",
            "author": r.author,
            "when": f"{r.created_at:%Y-%m-%d %H:%M}",
            "what": r.description,
        }
        for r in frame.itertuples(index=False)
    ]
    if as_json:
        echo_json(records)
        return
    echo_table(records)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    action_id: ActionArg,
    samples: drop_cli.SamplesOpt = 3,
    as_json: drop_cli.JsonOpt = False,
) -> None:
    """One action's drop report (the same as `report ACTION`)."""
    drop_cli.report_cmd(ctx, action_id, None, None, samples, as_json)


def _report(verb: str, action_id: int, result: revisions.ActionResult) -> None:
    typer.echo(f"{verb} action {action_id} as action {result.action_id}: {result.rows} rows restored")
    if result.skipped:
        skipped = list(result.skipped)
        typer.echo(f"kept {len(skipped)} rows changed since as they are: {row_list(skipped, len(skipped))}")


def _conflict(err: UndoConflictError, command: str) -> None:
    typer.echo(f"error: {err}", err=True)
    for later in err.later[:5]:
        typer.echo(f"  later: action {later.id} {later.kind} by {later.author}, on {plural(later.rows)}", err=True)
    first = f"`undo {err.later[0].id}` first, " if err.later else ""
    typer.echo(f"  choose: {first}`{command} --skip-changed`, or `{command} --force`", err=True)
    raise typer.Exit(1)


def undo_cmd(ctx: typer.Context, action_id: ActionArg, force: ForceOpt = False, skip_changed: SkipOpt = False) -> None:
    """Undo an action; rows changed since are listed and left alone unless --skip-changed or --force."""
    try:
        result = revisions.undo_action(
            open_store(ctx), action_id, author=config.get("author"), force=force, skip_changed=skip_changed
        )
    except UndoConflictError as err:
        _conflict(err, f"undo {action_id}")
    _report("undid", action_id, result)


def redo_cmd(ctx: typer.Context, action_id: ActionArg, force: ForceOpt = False, skip_changed: SkipOpt = False) -> None:
    """Apply an undone action again (itself an action), with the same rule for rows changed since."""
    try:
        result = revisions.redo_action(
            open_store(ctx), action_id, author=config.get("author"), force=force, skip_changed=skip_changed
        )
    except UndoConflictError as err:
        _conflict(err, f"redo {action_id}")
    typer.echo(f"redid action {action_id} as action {result.action_id}: {result.rows} rows changed")


def review_cmd(
    ctx: typer.Context,
    decision: Annotated[str, typer.Argument(help="approve, reject or pending.")],
    ids: Annotated[list[int] | None, typer.Option("--ids", help="Example id (repeatable).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept as the rows' status reason).")] = None,
    search: Annotated[str, typer.Option(help="Rows whose text contains this (case-insensitive).")] = "",
    source: Annotated[list[str] | None, typer.Option(help="Source name (repeatable).")] = None,
    origin: Annotated[list[str] | None, typer.Option(help=f"Origin (repeatable): {', '.join(ORIGINS)}.")] = None,
    status: Annotated[list[str] | None, typer.Option(help=f"Status (repeatable): {', '.join(STATUSES)}.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag (repeatable; rows with any of them).")] = None,
    task: Annotated[list[str] | None, typer.Option(help="Task name (repeatable).")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Every row (when no ids or filter).")] = False,
) -> None:
    """Approve, reject or reset rows (by --ids or by filter) as one undoable action."""
    if decision not in DECISIONS:
        raise typer.BadParameter(f"must be one of {', '.join(DECISIONS)}; got {decision!r}", param_hint="DECISION")
    flt = ExampleFilter(
        search=search, sources=source or [], origins=origin or [], statuses=status or [], tags=tag or [],
        tasks=task or [],
    )  # fmt: skip
    if ids and flt.to_dict():
        raise typer.BadParameter("give --ids or filter options, not both", param_hint="--ids")
    if not ids and not flt.to_dict() and not all_rows:
        raise typer.BadParameter("give --ids, filter options or --all", param_hint="--ids")
    store = open_store(ctx)
    if ids:
        found = set(examples.fetch(store, ExampleFilter(ids=ids), columns=("id",))["id"].astype(int))
        missing = sorted(set(ids) - found)
        if missing:
            raise ValueError(f"no example with id {', '.join(map(str, missing))}")
    kind = "review" if ids else "bulk-review"
    result = revisions.set_status(
        store, DECISIONS[decision], author=config.get("author"), ids=ids or None, flt=None if ids else flt,
        reason=reason, kind=kind,
    )  # fmt: skip
    if result.action_id is None:
        typer.echo("nothing changed: every matching row already had that status and reason")
        return
    action = revisions.get_action(store, result.action_id)
    typer.echo(f"action {result.action_id} ({kind}): {action['description']}")
    typer.echo(f"undo it with `undo {result.action_id}`")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="actions")
    root.command("undo")(undo_cmd)
    root.command("redo")(redo_cmd)
    root.command("review")(review_cmd)
