"""Sampling a planned mixture (deterministic by seed) and exporting it as an immutable snapshot."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curation import config as settings
from curation.cot import formats as cot_formats
from curation.jobs import JobContext
from curation.mixture import lineage, snapshot
from curation.mixture.plan import (
    MixConfig,
    MixturePlan,
    allocate,
    largest_remainder,
    overlap_blocks,
    overlap_warnings,
)
from curation.store import Store
from curation.store import mixture as mixture_store

JOB_KIND = "mix-export"
Progress = Callable[[float, str], None]


def _rng(seed: int, *key: Any) -> np.random.Generator:
    """A generator that depends only on the seed and the key (not on other groups or on Python's hash seed)."""
    digest = hashlib.sha256("\x00".join(map(str, key)).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def _counts(members: pd.DataFrame) -> pd.DataFrame:
    return members.groupby(["group", "cot", "held"], as_index=False).size().rename(columns={"size": "count"})


def plan_members(members: pd.DataFrame, config: MixConfig) -> MixturePlan:
    """The plan for exactly these member rows (id, group, cot, held)."""
    return allocate(_counts(members), config)


def _draw(ids: np.ndarray, take: int, rng: np.random.Generator) -> np.ndarray:
    """`take` ids: whole passes over all ids while take >= len(ids), then a sample without replacement."""
    if take == 0 or len(ids) == 0:
        return ids[:0]
    full, rest = divmod(take, len(ids))
    return np.concatenate([ids] * full + [ids[np.sort(rng.permutation(len(ids))[:rest])]])


def sample(members: pd.DataFrame, plan: MixturePlan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, heldout) frames of (id, group, cot, target): held-out rows (members' `held` flag) once each, train
    rows repeated by epochs.

    A CoT part's take is split over its group's target formats; each format draws from the same shuffled
    order (same generator), so the rows of a smaller format are also in a larger one. `target` is the CoT
    format a row is written in ("" for non-CoT rows and held-out rows, which keep the default format).
    """
    seed = plan.config.seed
    ids, held_flags = members["id"].to_numpy(dtype="int64"), members["held"].to_numpy(dtype=bool)
    positions = members.groupby(["group", "cot"], sort=True).indices
    train: list[tuple[np.ndarray, str, bool, str]] = []
    held: list[tuple[np.ndarray, str, bool, str]] = []
    for part in plan.parts.itertuples(index=False):
        pos = positions.get((part.group, part.cot), np.empty(0, dtype="int64"))
        order = pos[np.argsort(ids[pos], kind="stable")]
        pool, kept_out = ids[order[~held_flags[order]]], ids[order[held_flags[order]]]
        for target, take in _targets(plan, part):
            train.append((_draw(pool, take, _rng(seed, "train", part.group, part.cot)), part.group, part.cot, target))
        default = next(iter(plan.config.format_shares(part.group))) if part.cot else ""
        held.append((kept_out, part.group, part.cot, default))
    train_frame = _frame(train)
    order = _rng(seed, "order").permutation(len(train_frame))
    return train_frame.iloc[order].reset_index(drop=True), _frame(held).sort_values(["group", "id"], ignore_index=True)


def _targets(plan: MixturePlan, part: Any) -> list[tuple[str, int]]:
    """(target format, take) for one (group, cot) part; non-CoT parts have one unnamed target."""
    if not part.cot:
        return [("", int(part.take))]
    shares = plan.config.format_shares(part.group)
    return list(zip(shares, largest_remainder(list(shares.values()), int(part.take)), strict=True))


def _frame(pieces: list[tuple[np.ndarray, str, bool, str]]) -> pd.DataFrame:
    """One (id, group, cot, target) frame from per-part id arrays."""
    sizes = [len(p[0]) for p in pieces]
    return pd.DataFrame(
        {
            "id": np.concatenate([p[0] for p in pieces]) if pieces else np.empty(0, dtype="int64"),
            "group": np.repeat(np.array([p[1] for p in pieces], dtype=object), sizes),
            "cot": np.repeat(np.array([p[2] for p in pieces], dtype=bool), sizes),
            "target": np.repeat(np.array([p[3] for p in pieces], dtype=object), sizes),
        }
    )


def _heldout_by(config: MixConfig) -> str | None:
    """What the held-out split is made of: 'task_cluster', 'instruction' or 'task' (None: no split)."""
    if config.heldout_clusters:
        return "task_cluster"
    return config.heldout_by if config.heldout_fraction else None


def heldout_overlap(members: pd.DataFrame, train_ids: pd.Series, held_ids: pd.Series) -> dict[str, Any]:
    """Normalised instructions and tasks that occur both in the sampled train rows and in the held-out rows."""
    keys = members.set_index("id")[["instruction_key", "task_key"]]
    train, held = keys.loc[pd.unique(train_ids)], keys.loc[pd.unique(held_ids)]
    shared = sorted(set(train["instruction_key"]) & set(held["instruction_key"]))
    tasks = {k for k in set(train["task_key"]) & set(held["task_key"]) if k.startswith("task:")}
    return {"instructions": len(shared), "tasks": len(tasks), "examples": shared[:5]}


def _with_rows(picked: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Join row fields onto sampled ids (keeping order and repeats); write CoT rows in their target format.

    Returns the frame and, per target format, how many rows were converted and how many kept their text
    because no rationale could be separated from the answer.
    """
    frame = picked.astype({"id": "int64"}).merge(rows, on="id", how="left", validate="many_to_one")
    report: dict[str, dict[str, int]] = {}
    if frame.empty:
        return frame.drop(columns=["target", "meta"], errors="ignore"), report
    outputs, messages = frame["output"].tolist(), frame["messages"].tolist()
    for i, (target, row) in enumerate(zip(frame["target"], frame.to_dict("records"), strict=True)):
        if not target:
            continue
        text, turns, done = cot_formats.convert_row(row, target)
        counts = report.setdefault(target, {"converted": 0, "unchanged": 0})
        counts["converted" if done else "unchanged"] += 1
        if done:
            outputs[i], messages[i] = text, turns
    frame["output"], frame["messages"] = outputs, messages
    return frame.drop(columns=["target", "meta"], errors="ignore"), report


def _merge_reports(*reports: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    merged: dict[str, dict[str, int]] = {}
    for report in reports:
        for target, counts in report.items():
            into = merged.setdefault(target, {"converted": 0, "unchanged": 0})
            for key, value in counts.items():
                into[key] += value
    return dict(sorted(merged.items()))


def build(
    store: Store, config: MixConfig, progress: Progress | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Sample the mixture and fetch its rows: (train, heldout, manifest) ready for `snapshot.write_snapshot`."""
    report = progress or (lambda fraction, message: None)
    report(0.05, "reading eligible rows")
    members = mixture_store.member_ids(store, config.group_by, config.example_filter(), config.heldout_rule())
    plan = plan_members(members, config)
    report(0.2, f"sampling {plan.total:,} train rows")
    train_ids, held_ids = sample(members, plan)
    overlap = heldout_overlap(members, train_ids["id"], held_ids["id"])
    if overlap_blocks(config, overlap):
        raise ValueError("; ".join(overlap_warnings(config, overlap)))
    report(0.35, "fetching row text")
    rows = mixture_store.export_rows(store, [*train_ids["id"].tolist(), *held_ids["id"].tolist()])
    train, train_conv = _with_rows(train_ids, rows)
    heldout, held_conv = _with_rows(held_ids, rows)
    manifest = {
        "name": config.name,
        "author": settings.get("author"),
        "rule": config.rule(),
        "params": config.to_dict(),
        "seed": config.seed,
        "group_by": config.group_by,
        "groups": plan.manifest_groups(),
        "cot_share": round(plan.cot_share, 6),
        "cot_format": config.cot_format,
        "cot_formats": {g: config.format_shares(g) for g in sorted(set(plan.parts.loc[plan.parts["cot"], "group"]))},
        "cot_format_takes": plan.format_takes().to_dict("records"),
        "cot_conversion": _merge_reports(train_conv, held_conv),
        "distinct_rows": {"train": int(train_ids["id"].nunique()), "heldout": len(held_ids)},
        "heldout_overlap": {
            "by": _heldout_by(config),
            "instructions": overlap["instructions"],
            "tasks": overlap["tasks"],
        },
        "sources": {k: int(v) for k, v in sorted(train["source"].value_counts().items())} if len(train) else {},
        "warnings": plan.warnings,
        "lineage": lineage.lineage(store, sorted({*train_ids["id"].tolist(), *held_ids["id"].tolist()})),
    }
    return train, heldout, manifest


def export(store: Store, config: MixConfig, root: Path | None = None, progress: Progress | None = None) -> Path:
    """Sample and write the mixture as a snapshot folder (the existing one if the content is identical)."""
    train, heldout, manifest = build(store, config, progress)
    if progress:
        progress(0.7, f"writing {len(train):,} + {len(heldout):,} rows")
    folder = snapshot.write_snapshot(train, heldout, manifest, root)
    if progress:
        progress(1.0, f"snapshot {folder.name}")
    return folder


def export_job(config: MixConfig, root: Path | None = None) -> Callable[[JobContext], dict[str, Any]]:
    """A JobRunner function exporting the mixture; the result names the snapshot folder."""

    def run(ctx: JobContext) -> dict[str, Any]:
        folder = export(ctx.store, config, root, lambda f, m: ctx.progress(f, None, m))
        manifest = snapshot.read_manifest(folder)
        return {"path": str(folder), "counts": manifest["counts"], "content_hash": manifest["content_hash"]}

    return run
