"""CLI: LoRA fine-tuning on a snapshot (foreground with a progress bar, or detached), runs, compare, exports."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from curation import identity
from curation.cli.common import echo_json, echo_table, open_store, progress_bar
from curation.finetune import compare, export, runner, runs
from curation.finetune.config import FIELD_HELP, TrainConfig, gib, load_config, save_config
from curation.finetune.plan import TrainPlan, make_plan
from curation.jobs import JobRunner
from curation.store import Store, StoreLockedError

app = typer.Typer(
    help="LoRA fine-tuning on a snapshot. `train --snapshot DIR [--config TRAIN.yaml]` trains; see the commands "
    "below for runs, resume, compare and exports. Multi-GPU: `accelerate launch -m curation.finetune.train RUN_DIR` "
    "on a run folder made with --prepare-only. On a busy shared CPU, OMP_NUM_THREADS=1 can be much faster.",
    invoke_without_command=True,
    no_args_is_help=False,
)

RunDir = Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Run folder (see `train runs`).")]


def _plan_or_exit(cfg: TrainConfig) -> TrainPlan:
    """Validate; print every problem (field and fix) and exit 1, or print what the run will do."""
    plan = make_plan(cfg)
    for choice in plan.long_row_choices:
        typer.echo(f"rows longer than max_seq_len {cfg.max_seq_len} (long_rows: {cfg.long_rows}) - {choice}")
    if plan.errors:
        for error in plan.errors:
            typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"{plan.train_examples} train / {plan.heldout_examples} held-out examples, {plan.train_tokens} tokens, "
        f"{plan.truncated} truncated, {plan.dropped} dropped, {plan.eval_examples} for eval loss, {plan.steps} steps, "
        f"about {gib(plan.memory_bytes)} of {gib(plan.available_bytes)}"
    )
    return plan


def _store_or_none(ctx: typer.Context) -> Store | None:
    """The store for the job row; None (with a note) while the app holds it: training needs only the run folder."""
    try:
        return open_store(ctx)
    except StoreLockedError as err:
        typer.echo(f"note: {err}; training without a job row (the app's Fine-tune page still shows the run)", err=True)
        return None


def _run_in_foreground(ctx: typer.Context, run_dir: Path) -> None:
    store = _store_or_none(ctx)
    hook, close = progress_bar(f"training {run_dir.name}")
    try:
        if store is not None:
            result = runner.run_foreground(JobRunner(store), run_dir, hook) or {}
        else:
            code = runner.follow(run_dir, runner.start_process(run_dir), lambda f, m: bool(hook(f, m)))
            result = runner.outcome(run_dir, code)
    except runner.TrainingFailed as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    finally:
        close()
    typer.echo(
        f"{result.get('status')}: step {result.get('step')}/{result.get('total_steps')}, "
        f"loss {result.get('final_loss')}, eval loss {result.get('final_eval_loss')}; adapter: {result.get('adapter')}"
    )
    if result.get("status") != "succeeded":
        raise typer.Exit(1)


def _detach(ctx: typer.Context, run_dir: Path) -> None:
    store = _store_or_none(ctx)
    if store is None:
        runner.start_process(run_dir)
        typer.echo(f"started pid {runs.read_pid(run_dir)}; follow with `train status {run_dir}`")
        return
    job_id = runner.detach(store, run_dir)
    typer.echo(f"started job {job_id} (pid {runs.read_pid(run_dir)}); follow with `train status {run_dir}`")


@app.callback()
def train_cmd(
    ctx: typer.Context,
    snapshot: Annotated[
        Path | None, typer.Option(exists=True, file_okay=False, help="Snapshot folder (overrides the config's).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", exists=True, dir_okay=False, help="TRAIN.yaml (see `train init`).")
    ] = None,
    detach: Annotated[bool, typer.Option(help="Start in the background and return; the app shows it.")] = False,
    prepare_only: Annotated[
        bool, typer.Option(help="Only create the run folder (e.g. for `accelerate launch`) and print it.")
    ] = False,
) -> None:
    """Train a LoRA adapter on a snapshot: validate, create a run folder, run the trainer process."""
    identity.require("finetune")
    if ctx.invoked_subcommand:
        return
    if snapshot is None and config is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    cfg = load_config(config) if config else TrainConfig()
    if snapshot is not None:
        cfg = dataclasses.replace(cfg, snapshot=str(snapshot))
    _plan_or_exit(cfg)
    run_dir = runner.create_run(cfg)
    typer.echo(f"run folder: {run_dir}")
    if prepare_only:
        return
    if detach:
        _detach(ctx, run_dir)
        return
    _run_in_foreground(ctx, run_dir)


@app.command("init")
def init_cmd(path: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write TRAIN.yaml.")]) -> None:
    """Write a TRAIN.yaml with every setting at its default (edit it, then `train --config`)."""
    if path.exists():
        raise ValueError(f"{path} exists; choose another file name")
    save_config(TrainConfig(), path)
    typer.echo(f"wrote {path}")
    echo_table([{"setting": k, "help": v} for k, v in FIELD_HELP.items()])


@app.command("check")
def check_cmd(
    snapshot: Annotated[Path | None, typer.Option(exists=True, file_okay=False, help="Snapshot folder.")] = None,
    config: Annotated[Path | None, typer.Option("--config", exists=True, dir_okay=False, help="TRAIN.yaml.")] = None,
) -> None:
    """Validate settings against the snapshot and model without training (exit 1 with every problem)."""
    cfg = load_config(config) if config else TrainConfig()
    _plan_or_exit(dataclasses.replace(cfg, snapshot=str(snapshot)) if snapshot else cfg)


@app.command("resume")
def resume_cmd(
    ctx: typer.Context,
    run_dir: RunDir,
    detach: Annotated[bool, typer.Option(help="Resume in the background and return.")] = False,
) -> None:
    """Continue a cancelled, failed or interrupted run from its last checkpoint."""
    identity.require("finetune")
    run_dir = run_dir.resolve()
    runner.check_resumable(run_dir)
    if detach:
        _detach(ctx, run_dir)
        return
    _run_in_foreground(ctx, run_dir)


@app.command("runs")
def runs_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List runs: status, snapshot and its content hash, settings, losses, duration (no database needed)."""
    rows = runs.list_runs()
    if as_json:
        echo_json(rows)
        return
    cols = ["run", "status", "experiment", "snapshot", "snapshot_hash", "step", "total_steps", "final_loss"]
    cols.append("final_eval_loss")
    echo_table([r | {k: _short(r[k]) for k in ("final_loss", "final_eval_loss")} for r in rows], cols)


def _short(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


@app.command("status")
def status_cmd(run_dir: RunDir, lines: Annotated[int, typer.Option(help="Log lines to show.")] = 15) -> None:
    """One run's status, progress and the end of its log."""
    info = runs.summary(run_dir)
    typer.echo(f"{info['run']}: {info['status']}, step {info['step']}/{info['total_steps']}, {info['settings']}")
    typer.echo(runs.log_tail(run_dir, lines))


@app.command("cancel")
def cancel_cmd(run_dir: RunDir) -> None:
    """Ask a running trainer to stop after its current step (it saves the adapter so far)."""
    identity.require("finetune")
    runner.request_stop(run_dir)
    typer.echo(f"cancel requested for {run_dir.name}")


@app.command("compare")
def compare_cmd(
    run_dir: RunDir,
    n: Annotated[int, typer.Option("--n", help="Held-out instructions to generate for.")] = 3,
    ids: Annotated[
        str | None, typer.Option(help="Comma-separated held-out example ids instead of the first n.")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per answer.")] = 64,
    slices: Annotated[bool, typer.Option(help="Also held-out loss per source / task cluster / CoT.")] = True,
) -> None:
    """Base vs tuned answers side by side on held-out instructions, and eval loss per slice."""
    identity.require("finetune")
    try:
        chosen = [int(x) for x in ids.split(",")] if ids else None
    except ValueError:
        raise typer.BadParameter("give numbers separated by commas", param_hint="--ids") from None
    for pair in compare.side_by_side(run_dir, chosen, n, max_new_tokens):
        typer.echo(f"\n#{pair['id']} {pair['instruction']}\n  base : {pair['base']}\n  tuned: {pair['tuned']}")
    if slices:
        table = compare.slice_losses(run_dir).round(4)
        typer.echo("")
        echo_table(table.to_dict("records"))


@app.command("experiment")
def experiment_cmd(
    ctx: typer.Context,
    snapshots: Annotated[
        list[Path], typer.Option("--snapshot", exists=True, file_okay=False, help="A snapshot to train on (2 or more).")
    ],
    name: Annotated[str, typer.Option(help="Experiment name (shown on the Fine-tune page).")],
    config: Annotated[Path | None, typer.Option("--config", exists=True, dir_okay=False, help="TRAIN.yaml.")] = None,
    eval_snapshot: Annotated[
        Path | None, typer.Option(exists=True, file_okay=False, help="Shared eval set (default: first snapshot's).")
    ] = None,
    token_budget: Annotated[int | None, typer.Option(help="Tokens each run trains on (overrides the config).")] = None,
) -> None:
    """Train one run per snapshot with identical settings and token budget, evaluated on one shared held-out set."""
    identity.require("finetune")
    cfg = load_config(config) if config else TrainConfig()
    shared = str(eval_snapshot or snapshots[0])
    cfg = dataclasses.replace(cfg, eval_snapshot=shared)
    if token_budget is not None:
        cfg = dataclasses.replace(cfg, token_budget=token_budget)
    if not cfg.token_budget:
        raise ValueError("token_budget: an experiment needs the same budget for every run; pass --token-budget N")
    for snap in snapshots:
        typer.echo(f"{snap.name}:")
        _plan_or_exit(dataclasses.replace(cfg, snapshot=str(snap)))
    run_dirs = runner.create_experiment(cfg, snapshots, name)
    store = _store_or_none(ctx)
    if store is None:
        raise ValueError("the database is locked by the app; launch the experiment from the Fine-tune page instead")
    hook, close = progress_bar(f"experiment {name}")
    try:
        runner.run_experiment_foreground(JobRunner(store), run_dirs, hook)
    finally:
        close()
    rows = [r for r in runs.list_runs() if r["path"] in {str(d) for d in run_dirs}]
    echo_table(rows, ["run", "snapshot", "status", "step", "final_loss", "first_eval_loss", "final_eval_loss"])


@app.command("compare-experiment")
def compare_experiment_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name (see `train runs`).")],
    n: Annotated[int, typer.Option("--n", help="Held-out instructions to generate for.")] = 3,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per answer.")] = 64,
) -> None:
    """Per-slice held-out loss of every run of an experiment, and base vs each tuned model's answers."""
    identity.require("finetune")
    run_dirs = [Path(r["path"]) for r in runs.list_runs() if r["experiment"] == name]
    if not run_dirs:
        raise ValueError(f"no runs in experiment {name!r}; see `train runs`")
    table = compare.experiment_slices(run_dirs).round(4)
    echo_table(table.to_dict("records"), ["snapshot", "slice", "value", "examples", "base_loss", "tuned_loss"])
    answers = compare.experiment_answers(run_dirs, n=n, max_new_tokens=max_new_tokens)
    for row in answers.to_dict("records"):
        typer.echo(f"\n#{row['id']} {row['instruction']}\n  base: {row['base']}")
        for key in [k for k in row if k.startswith("tuned: ")]:
            typer.echo(f"  {key}: {row[key]}")


@app.command("export-llamafactory")
def export_llamafactory_cmd(
    snapshot: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Snapshot folder.")],
    out: Annotated[Path, typer.Option(help="LLaMA-Factory data folder (dataset_info.json is updated).")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the snapshot's name).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace dataset files that exist with other content.")
    ] = False,
) -> None:
    """Write a snapshot as LLaMA-Factory datasets (alpaca / sharegpt) with their dataset_info.json entries."""
    identity.require("export")
    result = export.export_llamafactory(snapshot, out, name, overwrite=force)
    for entry, rows in result["datasets"].items():
        typer.echo(f"{entry}: {rows} rows")
    typer.echo(f"dataset_info.json in {result['out_dir']}")


@app.command("export-merged")
def export_merged_cmd(
    run_dir: RunDir,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: exports_dir/models/RUN).")] = None,
) -> None:
    """Merge the run's adapter into the base model and save a plain transformers folder."""
    identity.require("finetune")
    typer.echo(f"merged model in {export.export_merged(run_dir, out)}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="train")
