"""CLI: preview and export data mixtures as versioned snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curation.cli.common import echo_json, echo_table, open_store, progress_bar
from curation.jobs import JobRunner
from curation.mixture import export as mixture_export
from curation.mixture import lineage, snapshot
from curation.mixture import plan as mixture

app = typer.Typer(help="Mixture rebalancing: preview group counts and export snapshots.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", exists=True, dir_okay=False, help="Mixture YAML (MixConfig fields: group_by, cap, weights, ...)."
    ),
]


def _load(path: Path, name: str | None = None) -> mixture.MixConfig:
    config = mixture.MixConfig.from_yaml(path)
    return mixture.MixConfig.from_dict(config.to_dict() | {"name": name}) if name else config


@app.command("preview")
def preview_cmd(
    ctx: typer.Context,
    config_path: ConfigOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Per-group counts before/after, share, epochs and warnings; writes nothing."""
    config = _load(config_path)
    plan = mixture.preview(open_store(ctx, read_only=True), config)
    data = {
        "rule": config.rule(),
        "total": plan.total,
        "heldout": plan.heldout_total,
        "cot_share": round(plan.cot_share, 6),
        "groups": [
            g | {k: int(v) for k, v in zip(("turns", "replies", "tokens"), sizes, strict=True)}
            for g, sizes in zip(plan.manifest_groups(), plan.groups[["turns", "replies", "tokens"]].values, strict=True)
        ],
        "heldout_overlap": plan.overlap,
        "cot_formats": plan.format_takes().to_dict("records"),
        "warnings": plan.warnings,
    }
    if as_json:
        echo_json(data)
        return
    typer.echo(f"rule: {data['rule']}")
    typer.echo(f"train rows: {plan.total}  held-out rows: {plan.heldout_total}  CoT share: {plan.cot_share:.1%}")
    if plan.overlap is not None:
        typer.echo(
            f"held out by {config.heldout_by if config.heldout_fraction else 'task cluster'}; shared with train: "
            f"{plan.overlap['instructions']} instructions, {plan.overlap['tasks']} tasks"
        )
    rows = [g | {"share": f"{g['share']:.1%}", "epochs": f"{g['epochs']:.2f}"} for g in data["groups"]]
    echo_table(
        rows, ["group", "before", "heldout", "after", "turns", "replies", "tokens", "share", "epochs", "warning"]
    )
    if data["cot_formats"]:
        typer.echo("CoT rows per target format (cot: rationale + answer, direct: answer, think: <think> + answer):")
        echo_table(data["cot_formats"], ["group", "format", "take"])
    for warning in plan.warnings:
        typer.echo(f"warning: {warning}")


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    config_path: ConfigOpt,
    out: Annotated[
        Path | None, typer.Option(help="Folder that receives the snapshot folder (default: snapshots_dir).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Snapshot name (default: the config's name).")] = None,
) -> None:
    """Sample the mixture and write an immutable snapshot (train/heldout JSONL + Parquet + manifest)."""
    config = _load(config_path, name)
    store = open_store(ctx)
    hook, close = progress_bar("mix export")
    try:
        result = JobRunner(store).run(
            mixture_export.JOB_KIND, mixture_export.export_job(config, out), config.to_dict(), on_progress=hook
        )
    finally:
        close()
    counts = result["counts"]
    typer.echo(f"snapshot {result['path']}")
    typer.echo(f"train {counts['train']} rows, heldout {counts['heldout']} rows, content hash {result['content_hash']}")


@app.command("list")
def list_cmd(
    root: Annotated[Path | None, typer.Option(help="Snapshots folder (default: snapshots_dir).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifests as JSON.")] = False,
) -> None:
    """Existing snapshots, newest first."""
    found = snapshot.list_snapshots(root)
    if as_json:
        echo_json(found)
        return
    rows = [
        {
            "name": m.get("name"),
            "train": m.get("counts", {}).get("train"),
            "heldout": m.get("counts", {}).get("heldout"),
            "rule": m.get("rule"),
            "created_at": m.get("created_at"),
            "path": m["path"],
        }
        for m in found
    ]
    echo_table(rows)


@app.command("diff")
def diff_cmd(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="Snapshot A: folder, folder name or snapshot name (its newest).")],
    b: Annotated[str, typer.Argument(help="Snapshot B, compared with A.")],
    root: Annotated[Path | None, typer.Option(help="Snapshots folder (default: snapshots_dir).")] = None,
    samples: Annotated[int, typer.Option(min=0, help="Sample rows per kind of change.")] = 5,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Compare the files only (no responsible actions from the database).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as one JSON object.")] = False,
) -> None:
    """Rows added, removed and changed from A to B, each with the action responsible, counted per action."""
    folder_a, folder_b = lineage.resolve(a, root), lineage.resolve(b, root)
    store = None if no_store else open_store(ctx, read_only=True)
    diff = lineage.diff_snapshots(folder_a, folder_b, store)
    data = diff.to_dict(samples)
    if as_json:
        echo_json(data)
        return
    counts = data["counts"]
    typer.echo(f"A: {folder_a.name} (as of action {diff.a['as_of_action']})")
    typer.echo(f"B: {folder_b.name} (as of action {diff.b['as_of_action']})")
    typer.echo(f"added {counts['added']}, removed {counts['removed']}, changed {counts['changed']} rows")
    echo_table(
        [
            {"action": "" if r["action_id"] is None else f"#{r['action_id']} {r['kind']}", "added": r["added"],
             "removed": r["removed"], "changed": r["changed"], "what": r["description"]}
            for r in data["by_operation"]
        ]
    )  # fmt: skip
    for change, rows in data["samples"].items():
        for r in rows:
            by = f"#{r['action_id']} {r['kind']}" if r["action_id"] is not None else "no recorded action"
            fields = f" [{', '.join(r['fields'])}]" if change == "changed" else ""
            typer.echo(f"  {change} #{r['example_id']}{fields} by {by}: {str(r['instruction'])[:70]!r}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="mix")
