"""CLI: list and cancel background jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from curation.cli.common import echo_table, open_store
from curation.finetune.runner import request_stop
from curation.store import jobs_table, team

app = typer.Typer(help="Background jobs (dedup, embedding, generation, training).", no_args_is_help=True)


@app.command("list")
def list_cmd(ctx: typer.Context, limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """List recent jobs with status and progress."""
    frame = jobs_table.list_jobs(open_store(ctx), limit=limit)
    frame["progress"] = (frame["progress"] * 100).round().astype(int).astype(str) + "%"
    echo_table(frame[["id", "kind", "status", "progress", "message", "created_at"]].fillna("").to_dict("records"))


@app.command("cancel")
def cancel_cmd(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Ask a running job to stop at its next step."""
    store = open_store(ctx)
    job = jobs_table.get(store, job_id)
    team.authorize(store, job["kind"] if job else "jobs")  # cancelling needs the role that starts the job
    if jobs_table.request_cancel(store, job_id):
        run_dir = (jobs_table.get(store, job_id) or {}).get("run_dir")
        if run_dir:  # a trainer process watches its run folder, not the database (the app may not be running)
            request_stop(run_dir)
        typer.echo(f"cancel requested for job {job_id}")
    else:
        job = jobs_table.get(store, job_id) or {}
        why = f" ({job.get('status')}: {job['error']})" if job.get("error") else ""
        typer.echo(f"job {job_id} had already finished{why}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="jobs")
