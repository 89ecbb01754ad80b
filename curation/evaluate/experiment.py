"""FLAN-style experiment results: the base model and every run scored on the same held-out items, one table per
run and per slice with accuracy +- CI, the change vs base and vs the first snapshot's run, each with paired p."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from curation.evaluate import engine, results, stats
from curation.evaluate.items import items_from_snapshot

BASE_LABEL = "base"


def shared_item_source(run_dirs: list[Path]) -> tuple[str, str]:
    """(eval snapshot folder, base model) every run of the experiment shares; refused when they differ."""
    from curation.finetune import runs
    from curation.finetune.config import load_config

    configs = [load_config(Path(d) / runs.CONFIG) for d in run_dirs]
    sources = {c.eval_snapshot or c.snapshot for c in configs}
    bases = {c.base_model for c in configs}
    if len(sources) != 1 or len(bases) != 1:
        raise ValueError("the runs do not share one eval snapshot and base model; accuracy would not be paired")
    return sources.pop(), bases.pop()


def evaluate_experiment(
    store: Any, name: str, run_dirs: list[Path], limit: int | None = 500,
    progress: Callable[[float, float | None, str | None], None] | None = None,
) -> list[int]:  # fmt: skip
    """Score the base model and every run on the shared held-out items; saves each result under the experiment."""
    source, base_model = shared_item_source(run_dirs)
    items = items_from_snapshot(source, limit)
    specs = [(BASE_LABEL, base_model), *((Path(d).name, str(d)) for d in run_dirs)]
    saved = []
    for k, (label, spec) in enumerate(specs):

        def step(done: float, total: float | None, message: str | None, k: int = k, label: str = label) -> None:
            if progress:
                progress((k + (done / total if total else done)) / len(specs), None, f"{label}: {message or ''}")

        loaded = engine.load_model(spec)
        loaded.label = label
        result = results.evaluate(spec, items, f"{Path(source).name}:heldout", step, loaded=loaded)
        saved.append(results.save(store, result, experiment=name))
    return saved


def _slices(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    keys = dict.fromkeys((k, v) for r in items for k, v in (r.get("slices") or {}).items())
    return [("all", "all"), *keys]


def accuracy_table(saved: list[dict[str, Any]], snapshots: dict[str, str]) -> pd.DataFrame:
    """Per model (base first, runs in `snapshots` order) and slice: n, accuracy, CI, Δ vs base and vs the first run.

    `saved` are stored results (with per-item lists) on one item set; `snapshots` maps run name -> snapshot name.
    """
    by_model = {r["model"]: r for r in saved}
    order = [m for m in [BASE_LABEL, *snapshots] if m in by_model]
    if not order:
        return pd.DataFrame()
    first_run = next((m for m in order if m != BASE_LABEL), None)
    rows = []
    for slice_name, value in _slices(by_model[order[0]]["items"]):
        for model in order:
            rows.append(_row(by_model, model, first_run, slice_name, value) | {"snapshot": snapshots.get(model, "")})
    return pd.DataFrame(rows)


def _picked(result: dict[str, Any], slice_name: str, value: str) -> list[bool]:
    return [
        bool(r["correct"])
        for r in result["items"]
        if slice_name == "all" or (r.get("slices") or {}).get(slice_name) == value
    ]


def _row(by_model: dict, model: str, first_run: str | None, slice_name: str, value: str) -> dict[str, Any]:
    mine = _picked(by_model[model], slice_name, value)
    iv = stats.accuracy(mine)
    row = {"model": model, "slice": slice_name, "value": value, "n": iv.n, "accuracy": iv.value}
    row |= {"ci_lo": iv.lo, "ci_hi": iv.hi, "accuracy_ci": f"{iv.value:.3f} [{iv.lo:.3f}, {iv.hi:.3f}]"}
    for tag, other in (("base", BASE_LABEL), ("first", first_run)):
        if other is None or model in (other, BASE_LABEL) or other not in by_model:
            row |= {f"delta_{tag}": None, f"p_{tag}": None, f"vs_{tag}": ""}
            continue
        d = stats.paired_difference(_picked(by_model[other], slice_name, value), mine)
        verdict = "no significant difference" if not d.significant else ("better" if d.diff > 0 else "worse")
        row |= {
            f"delta_{tag}": d.diff,
            f"p_{tag}": d.p_value,
            f"vs_{tag}": f"{d.diff:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}] {verdict}",
        }
    return row


def experiment_table(store: Any, name: str, run_dirs: list[Path]) -> pd.DataFrame:
    """The saved accuracy table of an experiment (empty until it was evaluated)."""
    from curation.finetune import runs
    from curation.store import evaluations

    saved = evaluations.latest(store, experiment=name)
    if not saved:
        return pd.DataFrame()
    newest = saved[0]["item_set_hash"]
    saved = [s for s in saved if s["item_set_hash"] == newest]
    ordered = sorted(run_dirs, key=lambda d: (not _trains_on_eval_snapshot(Path(d)), Path(d).name))
    names = {Path(d).name: (runs.read_json(Path(d) / runs.MANIFEST) or {}).get("name", "") for d in ordered}
    return accuracy_table(saved, names)


def _trains_on_eval_snapshot(run_dir: Path) -> bool:
    """True for the run of the experiment's first snapshot (the one whose held-out split everyone is scored on)."""
    from curation.finetune import runs
    from curation.finetune.config import load_config

    cfg = load_config(run_dir / runs.CONFIG)
    return bool(cfg.eval_snapshot) and Path(cfg.snapshot).resolve() == Path(cfg.eval_snapshot).resolve()
