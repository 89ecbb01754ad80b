"""Mixture rebalancing: group counts -> rates (cap, temperature, weights, CoT share, total) -> exact integers.

Rules combine in this order, as in T5/FLAN: a group's rate is min(count, cap) ** (1 / temperature); explicit
weights fix the share of the groups they name (the other groups share the rest by rate); each group's share
is split between its CoT and non-CoT rows in proportion to their counts; a target CoT share then rescales
the CoT and non-CoT parts; the shares times the target total (default: the sum of capped counts) are turned
into integers by the largest-remainder method, so the total is kept exactly. Everything here works on
counts only; `curation.mixture.export` samples the rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from curation.cot import formats as cot_formats
from curation.filters import STATUSES, ExampleFilter
from curation.mixture.snapshot import check_name
from curation.store import Store
from curation.store import mixture as mixture_store

GROUP_BYS = mixture_store.GROUP_BYS
NO_GROUP = mixture_store.NO_GROUP
HELDOUT_BYS = mixture_store.HELDOUT_BYS


@dataclass
class MixConfig:
    """Everything that defines a mixture; loadable from YAML (`mix preview --config MIX.yaml`)."""

    name: str = "mixture"
    group_by: str = "source"
    statuses: list[str] = field(default_factory=lambda: ["approved"])
    filter: dict[str, Any] = field(default_factory=dict)
    cap: int | None = None
    temperature: float = 1.0
    weights: dict[str, float] = field(default_factory=dict)
    cot_share: float | None = None
    total: int | None = None
    seed: int = 0
    max_epochs: float = 3.0
    min_fraction: float = 0.1
    heldout_clusters: list[str] = field(default_factory=list)
    heldout_fraction: float = 0.0
    heldout_by: str = "instruction"  # a fraction holds out whole (normalised) instructions, or whole tasks
    allow_overlap: bool = False  # export even if an instruction / task is in both train and held-out
    cot_format: str = "cot"
    cot_formats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.group_by not in GROUP_BYS:
            raise ValueError(f"group_by must be one of {GROUP_BYS}; got {self.group_by!r}")
        bad = [s for s in self.statuses if s not in STATUSES or s == "duplicate"]
        if bad or not self.statuses:
            allowed = tuple(s for s in STATUSES if s != "duplicate")
            raise ValueError(f"statuses must be a non-empty subset of {allowed} (duplicates never enter); got {bad}")
        _check(self.cap is None or self.cap >= 1, f"cap must be a positive integer or empty; got {self.cap}")
        _check(self.temperature > 0, f"temperature must be > 0; got {self.temperature}")
        _check(all(w >= 0 for w in self.weights.values()), f"weights must be >= 0; got {self.weights}")
        _check(self.cot_share is None or 0 <= self.cot_share <= 1, f"cot_share must be in [0, 1]; got {self.cot_share}")
        _check(self.total is None or self.total >= 0, f"total must be >= 0 or empty; got {self.total}")
        _check(self.max_epochs > 0, f"max_epochs must be > 0; got {self.max_epochs}")
        _check(0 <= self.min_fraction <= 1, f"min_fraction must be in [0, 1]; got {self.min_fraction}")
        _check(0 <= self.heldout_fraction < 1, f"heldout_fraction must be in [0, 1); got {self.heldout_fraction}")
        _check(
            not (self.heldout_clusters and self.heldout_fraction),
            "hold out either whole task clusters (heldout_clusters) or a fraction per group, not both",
        )
        _check(self.cot_format in cot_formats.TARGETS, f"cot_format must be one of {cot_formats.TARGETS}")
        self.cot_formats = {str(g): _format_shares(g, v) for g, v in self.cot_formats.items()}
        _check(self.heldout_by in HELDOUT_BYS, f"heldout_by must be one of {HELDOUT_BYS}; got {self.heldout_by!r}")
        _check(isinstance(self.allow_overlap, bool), f"allow_overlap must be true or false; got {self.allow_overlap!r}")
        ExampleFilter(**{k: v for k, v in self.filter.items() if k != "statuses"})  # validates the filter keys

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixConfig:
        """Build from plain data; unknown keys are an error that names them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown mixture setting(s) {unknown}; known: {sorted(known)}")
        data = dict(data)
        for name, kind in _NUMBERS.items():
            if data.get(name) is not None:
                data[name] = _number(name, data[name], kind)
        data["weights"] = {str(k): float(v) for k, v in (data.get("weights") or {}).items()}
        data["heldout_clusters"] = [str(c) for c in data.get("heldout_clusters") or []]
        if isinstance(data.get("allow_overlap"), str):
            raise ValueError(f"allow_overlap must be true or false; got {data['allow_overlap']!r}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> MixConfig:
        """Load a YAML file (a mapping of MixConfig fields)."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise ValueError(f"{path}:{where} not valid YAML ({getattr(err, 'problem', err)})") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of mixture settings, got {type(data).__name__}")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def heldout_rule(self) -> mixture_store.HeldOutRule:
        """Which rows are held out (whole clusters, or a fraction of whole instructions / tasks)."""
        return mixture_store.HeldOutRule(
            tuple(self.heldout_clusters), self.heldout_fraction, self.heldout_by, self.seed
        )

    def example_filter(self) -> ExampleFilter:
        """The rows that may enter: the extra filter plus the status set."""
        return ExampleFilter(**{**self.filter, "statuses": list(self.statuses)})

    def format_shares(self, group: str) -> dict[str, float]:
        """How a group's CoT rows are written: {target format: share}, shares summing to 1."""
        return self.cot_formats.get(group) or {self.cot_format: 1.0}

    def rule(self) -> str:
        """Human-readable summary of the combined mixing rule (recorded in manifests)."""
        parts = [f"examples-proportional(cap={self.cap})" if self.cap else "examples-proportional"]
        if self.temperature != 1:
            parts.append(f"temperature(T={self.temperature:g})")
        if self.weights:
            parts.append("weights(" + ", ".join(f"{k}={v:g}" for k, v in sorted(self.weights.items())) + ")")
        if self.cot_share is not None:
            parts.append(f"cot_share({self.cot_share:g})")
        if self.total is not None:
            parts.append(f"total({self.total})")
        return " + ".join(parts)


_NUMBERS = {
    "cap": int,
    "total": int,
    "seed": int,
    "temperature": float,
    "cot_share": float,
    "max_epochs": float,
    "min_fraction": float,
    "heldout_fraction": float,
}


def _format_shares(group: Any, value: Any) -> dict[str, float]:
    """A group's CoT formats as normalised shares: "direct" or {"cot": 0.5, "direct": 0.5}."""
    shares = {value: 1.0} if isinstance(value, str) else value
    where = f"cot_formats[{group!r}]"
    _check(isinstance(shares, dict) and bool(shares), f"{where} must be a format or a mapping of format to share")
    bad = sorted(set(shares) - set(cot_formats.TARGETS))
    _check(not bad, f"{where}: unknown format(s) {bad}; use {cot_formats.TARGETS}")
    numbers = {k: _number(f"{where}[{k!r}]", v, float) for k, v in shares.items()}
    _check(
        all(v >= 0 for v in numbers.values()) and sum(numbers.values()) > 0, f"{where}: shares must be >= 0, not all 0"
    )
    total = sum(numbers.values())
    return {k: numbers[k] / total for k in cot_formats.TARGETS if numbers.get(k)}


def _number(name: str, value: Any, kind: type) -> int | float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if kind is int and not number.is_integer():
        raise ValueError(f"{name} must be a whole number; got {value!r}")
    return int(number) if kind is int else number


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass
class MixturePlan:
    """The preview: integer allocation per (group, cot) part, per-group summary and warnings."""

    config: MixConfig
    parts: pd.DataFrame  # group, cot, available, heldout, quota, take
    groups: pd.DataFrame  # group, before, heldout, after, share, epochs, weight, warning
    warnings: list[str]
    overlap: dict[str, Any] | None = None  # instructions / tasks both held out and trainable (None: no split)

    @property
    def total(self) -> int:
        return int(self.parts["take"].sum())

    @property
    def heldout_total(self) -> int:
        return int(self.parts["heldout"].sum())

    @property
    def cot_share(self) -> float:
        return float(self.parts.loc[self.parts["cot"], "take"].sum() / self.total) if self.total else 0.0

    def format_takes(self) -> pd.DataFrame:
        """Train rows per (group, CoT target format): each CoT part's take split by the group's format shares.

        Every format draws from the same shuffled order, so a smaller format's rows are also in a larger one:
        a group with {cot: 0.5, direct: 0.5} and enough rows repeats the same rows in both formats (Flan).
        """
        rows = []
        for part in self.parts[self.parts["cot"]].itertuples(index=False):
            shares = self.config.format_shares(part.group)
            takes = largest_remainder(list(shares.values()), int(part.take))
            rows += [(part.group, target, take) for target, take in zip(shares, takes, strict=True)]
        return pd.DataFrame(rows, columns=["group", "format", "take"]).astype({"take": "int64"})

    def manifest_groups(self) -> list[dict[str, Any]]:
        """Per-group counts as plain data (for manifests and JSON output)."""
        cols = ["group", "before", "heldout", "after", "share", "epochs", "warning"]
        return [
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in rec.items()}
            for rec in self.groups[cols].to_dict("records")
        ]


def largest_remainder(quotas: list[float], total: int) -> list[int]:
    """Integers that sum to `total`, each floor(quota) or one more; ties go to the earlier position.

    Quotas are rescaled to sum to `total` first; the order of `quotas` is the deterministic tie-break.
    """
    if total <= 0 or not quotas or sum(quotas) <= 0:
        return [0] * len(quotas)
    scale = total / sum(quotas)
    exact = [q * scale for q in quotas]
    base = [math.floor(x + 1e-9) for x in exact]
    left = total - sum(base)
    order = sorted(range(len(exact)), key=lambda i: (-(round(exact[i] - base[i], 9)), i))
    for i in order[:left]:
        base[i] += 1
    return base


def split_heldout(counts: pd.DataFrame, config: MixConfig) -> pd.DataFrame:
    """Per (group, cot) part: rows available for training and rows held out (the `held` flag of the counts, set
    by whole clusters or by a fraction of whole instructions / tasks; see `curation.store.mixture`)."""
    frame = counts.assign(
        available=counts["count"].where(~counts["held"], 0), heldout=counts["count"].where(counts["held"], 0)
    )
    parts = frame.groupby(["group", "cot"], as_index=False)[["available", "heldout"]].sum()
    return parts.sort_values(["group", "cot"], ignore_index=True)


def _group_shares(before: pd.Series, config: MixConfig, warnings: list[str]) -> pd.Series:
    """Share of the total per group from cap, temperature and explicit weights."""
    rates = before.clip(upper=config.cap) if config.cap else before.astype(float)
    rates = rates.astype(float) ** (1.0 / config.temperature)
    rates[before == 0] = 0.0
    weighted = {g: w for g, w in config.weights.items() if g in rates.index}
    for g in sorted(set(config.weights) - set(weighted)):
        warnings.append(f"weight for group {g!r} ignored: no such group among the eligible rows")
    for g in sorted(g for g in weighted if before[g] == 0):
        warnings.append(f"group {g!r} has a weight but no rows left for training")
    if not weighted:
        return rates / rates.sum() if rates.sum() else rates
    fixed = pd.Series(weighted, dtype=float)
    if set(weighted) == set(rates.index):
        return (fixed / fixed.sum()).reindex(rates.index) if fixed.sum() else rates * 0
    _check(fixed.sum() <= 1 + 1e-9, f"weights of a subset of groups are shares and must sum to <= 1; got {fixed.sum()}")
    rest = rates.drop(fixed.index)
    others = rest / rest.sum() * (1 - fixed.sum()) if rest.sum() else rest * 0
    return pd.concat([fixed, others]).reindex(rates.index)


def _apply_cot_share(parts: pd.DataFrame, share: float, warnings: list[str]) -> None:
    cot_part, plain = parts.loc[parts["cot"], "share"].sum(), parts.loc[~parts["cot"], "share"].sum()
    if (share > 0 and cot_part == 0) or (share < 1 and plain == 0):
        side = "CoT" if cot_part == 0 else "non-CoT"
        warnings.append(f"target CoT share {share:g} cannot be met: no {side} rows are eligible")
        return
    parts.loc[parts["cot"], "share"] *= share / cot_part if cot_part else 0.0
    parts.loc[~parts["cot"], "share"] *= (1 - share) / plain if plain else 0.0


def allocate(counts: pd.DataFrame, config: MixConfig) -> MixturePlan:
    """Plan a mixture from counts (columns group, cot, held, count); pure, no database needed."""
    warnings: list[str] = []
    parts = split_heldout(counts, config)
    if parts.empty:
        empty = pd.DataFrame(columns=["group", "before", "heldout", "after", "share", "epochs", "weight", "warning"])
        parts = parts.assign(quota=0.0, take=0)
        return MixturePlan(config, parts, empty, ["no eligible rows: check the status set and filter"])
    before = parts.groupby("group")["available"].sum()
    shares = _group_shares(before, config, warnings)
    group_of = parts["group"]
    within = parts["available"] / before.reindex(group_of).to_numpy()
    parts["share"] = (shares.reindex(group_of).to_numpy() * within.fillna(0)).astype(float)
    if config.cot_share is not None:
        _apply_cot_share(parts, config.cot_share, warnings)
    capped = int(before.clip(upper=config.cap).sum()) if config.cap else int(before.sum())
    total = capped if config.total is None else int(config.total)
    parts["quota"] = parts["share"] * total
    parts["take"] = largest_remainder(parts["quota"].tolist(), total)
    groups = _group_table(parts, config, warnings)
    warnings.extend(weight_warnings(config, groups))
    return MixturePlan(config, parts.drop(columns="share"), groups, warnings)


def weight_warnings(config: MixConfig, groups: pd.DataFrame) -> list[str]:
    """Say the share a group really gets when weights cover only some groups, are renormalised, or are 0."""
    if not config.weights or groups.empty:
        return []
    share = dict(zip(groups["group"], groups["share"], strict=True))
    named = [g for g in groups["group"] if g in config.weights]
    if not named:
        return []
    out = [
        f"group {g!r} has weight 0: it gets 0.0% of the mixture ({int(before)} eligible rows left out)"
        for g, before in zip(groups["group"], groups["before"], strict=True)
        if config.weights.get(g) == 0 and before > 0
    ]
    unweighted = [g for g in groups["group"] if g not in config.weights]
    if unweighted:
        listed = ", ".join(f"{g!r} {share[g]:.1%}" for g in unweighted[:10])
        more = f" and {len(unweighted) - 10} more" if len(unweighted) > 10 else ""
        out.append(f"weights cover only {len(named)} of {len(groups)} groups; the others really get: {listed}{more}")
    else:
        total = sum(config.weights[g] for g in named)
        if abs(total - 1) > 1e-9 and total > 0:
            listed = ", ".join(f"{g!r} {share[g]:.1%}" for g in named[:10])
            out.append(f"weights sum to {total:g} and are divided by it; the groups really get: {listed}")
    return out


def _group_table(parts: pd.DataFrame, config: MixConfig, warnings: list[str]) -> pd.DataFrame:
    groups = parts.groupby("group", as_index=False).agg(
        before=("available", "sum"), heldout=("heldout", "sum"), after=("take", "sum")
    )
    total = groups["after"].sum()
    groups["share"] = groups["after"] / total if total else 0.0
    groups["epochs"] = (groups["after"] / groups["before"].where(groups["before"] > 0)).fillna(0.0)
    groups["weight"] = groups["group"].map(config.weights)
    groups["warning"] = ""
    for i, g in groups.iterrows():
        if g["before"] == 0:
            continue
        if g["epochs"] > config.max_epochs:
            groups.loc[i, "warning"] = f"repeats {g['epochs']:.2f}x (> {config.max_epochs:g})"
        elif g["after"] < config.min_fraction * g["before"]:
            groups.loc[i, "warning"] = f"keeps {g['after'] / g['before']:.1%} of its rows (< {config.min_fraction:.0%})"
        if groups.loc[i, "warning"]:
            warnings.append(f"group {g['group']!r} {groups.loc[i, 'warning']}")
    return groups


def overlap_blocks(config: MixConfig, overlap: dict[str, Any]) -> bool:
    """Whether an overlap stops an export: any shared instruction, or a shared task when splitting by task."""
    shared = overlap["instructions"] or (config.heldout_by == "task" and overlap["tasks"])
    return bool(shared) and not config.allow_overlap


def overlap_warnings(config: MixConfig, overlap: dict[str, Any]) -> list[str]:
    """Held-out leaks: instructions (and, splitting by task, tasks) on both sides of the split."""
    out = []
    if overlap["instructions"]:
        examples = "; ".join(repr(e[:60]) for e in overlap["examples"])
        out.append(f"{overlap['instructions']} instructions are both held out and in train (e.g. {examples})")
    if config.heldout_by == "task" and overlap["tasks"]:
        out.append(f"{overlap['tasks']} tasks are both held out and in train")
    if out and not config.allow_overlap:
        out.append("export is refused while held-out rows leak into train; set allow_overlap to export anyway")
    return out


def eligible_counts(store: Store, config: MixConfig) -> pd.DataFrame:
    """Eligible rows per (group, cot, held-out cluster) for this config's grouping, filter and clusters."""
    return mixture_store.group_counts(store, config.group_by, config.example_filter(), config.heldout_rule())


CHARS_PER_TOKEN = 4  # a rough English average; the real count depends on the tokenizer


def add_sizes(plan: MixturePlan, sizes: pd.DataFrame) -> None:
    """Expected turns, assistant turns and tokens (about chars / 4) per group after mixing: each group's
    per-row averages over its trainable rows times the rows it takes (multi-turn chats weigh more than rows)."""
    per_row = sizes.set_index("group")
    rows = plan.groups["group"].map(per_row["rows"]).fillna(0)
    for name, column, scale in (("turns", "turns", 1), ("replies", "replies", 1), ("tokens", "chars", CHARS_PER_TOKEN)):
        mean = plan.groups["group"].map(per_row[column]).fillna(0) / rows.where(rows > 0)
        plan.groups[name] = (plan.groups["after"] * mean.fillna(0) / scale).round().astype("int64")


def preview(store: Store, config: MixConfig, counts: pd.DataFrame | None = None) -> MixturePlan:
    """Plan a mixture over the store's eligible rows (aggregates only; no row text leaves DuckDB).

    `counts` may be passed when already fetched with `eligible_counts` for the same grouping and filter.
    """
    plan = allocate(eligible_counts(store, config) if counts is None else counts, config)
    add_sizes(plan, mixture_store.group_sizes(store, config.group_by, config.example_filter(), config.heldout_rule()))
    if config.heldout_clusters or config.heldout_fraction:
        plan.overlap = mixture_store.heldout_overlap(
            store, config.group_by, config.example_filter(), config.heldout_rule()
        )
        plan.warnings.extend(overlap_warnings(config, plan.overlap))
    missing = sorted(set(config.heldout_clusters) - set(mixture_store.clusters(store, config.example_filter())))
    if missing:
        plan.warnings.append(f"held-out cluster(s) {missing} have no eligible rows")
    untagged = mixture_store.untagged_cot_format(store, config.example_filter())
    if untagged:
        plan.warnings.append(
            f"{untagged} eligible rows have format 'cot' but no cot tag; run CoT tagging so they count as CoT"
        )
    return plan
