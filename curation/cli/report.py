"""CLI: drop reports ("what did it remove?") for any recorded action or applied dedup run."""

from __future__ import annotations

from typing import Annotated

import typer

from curation.cli.common import echo_json, echo_table, open_store
from curation.operations import report as drop

ActionOpt = Annotated[int | None, typer.Argument(help="Action id (see `actions list`).", show_default=False)]
DedupRunOpt = Annotated[
    int | None,
    typer.Option("--dedup-run", help="Report on the action that applied this dedup run.", show_default=False),
]
RunOpt = Annotated[
    tuple[str, int] | None,
    typer.Option("--run", help="KIND RUN: the newest action of KIND that applied run RUN.", show_default=False),
]
SamplesOpt = Annotated[int, typer.Option("--samples", min=0, help="Sample rows per decision.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")]


def print_report(rep: drop.DropReport) -> None:
    """The report as plain text: decisions, breakdowns, score histogram, samples and mixture shares."""
    action = rep.action
    state = "undone" if action["undone"] else "in effect"
    typer.echo(f"action {action['id']} ({action['kind']}, {state}) by {action['author']} at {action['created_at']}")
    typer.echo(f"  {action['description']}")
    typer.echo(f"{rep.rows} rows changed")
    echo_table([{"decision": k, "rows": v} for k, v in rep.decisions.items()])
    for dim in drop.DIMENSIONS:
        part = rep.breakdown[rep.breakdown["dimension"] == dim]
        if len(part):
            typer.echo(f"by {dim}:")
            echo_table(part[["value", "decision", "rows"]].to_dict("records"))
    if rep.score_label:
        typer.echo(f"scores: {rep.score_label}")
        rows = [
            {"decision": r.decision, "bin": f"{r.bin_start:.3g}-{r.bin_end:.3g}", "rows": int(r.rows)}
            for r in rep.histogram.itertuples(index=False)
            if r.rows
        ]
        echo_table(rows)
    for decision, samples in rep.samples.items():
        typer.echo(f"samples, {decision}:")
        for s in samples:
            score = "" if s["score"] is None else f" [score {s['score']:.3g}]"
            reason = f" ({s['reason']})" if s["reason"] else ""
            typer.echo(f"  #{s['id']}{score} {s['instruction'][:80]!r}{reason}")
    typer.echo(f"mixture shares among rows that are {' or '.join(rep.eligible)}, before -> after:")
    echo_table(
        [
            {
                "by": r.dimension,
                "value": r.value,
                "before": f"{r.before} ({r.before_share:.1%})",
                "after": f"{r.after} ({r.after_share:.1%})",
            }
            for r in rep.shares.itertuples(index=False)
        ]
    )


def report_cmd(
    ctx: typer.Context,
    action: ActionOpt = None,
    dedup_run: DedupRunOpt = None,
    run: RunOpt = None,
    samples: SamplesOpt = 3,
    as_json: JsonOpt = False,
) -> None:
    """What an action changed: rows per decision and source/task/origin/format, scores, samples, mixture shares."""
    store = open_store(ctx, read_only=True)
    rep = drop.drop_report(store, drop.resolve_action(store, action, dedup_run=dedup_run, run=run), samples=samples)
    if as_json:
        echo_json(rep.to_dict())
        return
    print_report(rep)


def register(root: typer.Typer) -> None:
    root.command("report")(report_cmd)
