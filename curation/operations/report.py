"""Drop reports: "what did it remove?" for any action (dedup apply, CoT tagging, judge reject-below, a review, an
operation's apply).

Everything comes from what every action leaves behind (its revisions), so the report works the same for every
operation: the changed rows counted per decision and per source / task / origin / format, the scores the decision
was made on (when the action has any), a few sample rows per decision with their reason, and the mixture shares
(rows by source and task among the rows eligible for training) right before and right after the action.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curation.filters import ExampleFilter
from curation.store import Store, drops, examples, revisions
from curation.store import actions as action_store
from curation.store.changes import TAG_PREFIX

DIMENSIONS = ("source", "task", "origin", "format")
SHARE_DIMENSIONS = ("source", "task")
ELIGIBLE = ("pending", "approved")  # rows that may enter a mixture: not rejected, not duplicate
NONE_LABEL = "(none)"
_RUBRIC = re.compile(r"under rubric '([^']+)'")


@dataclass
class DropReport:
    """What one action changed; frames are empty when there is nothing of that kind."""

    action: dict[str, Any]
    decisions: dict[str, int]
    breakdown: pd.DataFrame  # dimension, value, decision, rows
    scores: pd.DataFrame  # example_id, decision, score
    score_label: str | None
    histogram: pd.DataFrame  # decision, bin_start, bin_end, rows
    samples: dict[str, list[dict[str, Any]]]
    shares: pd.DataFrame  # dimension, value, before, after, before_share, after_share
    eligible: tuple[str, ...] = field(default=ELIGIBLE)

    @property
    def rows(self) -> int:
        return int(self.action.get("row_count") or 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the CLI's --json)."""
        return {
            "action": self.action,
            "rows": self.rows,
            "decisions": self.decisions,
            "breakdown": _records(self.breakdown),
            "score_label": self.score_label,
            "histogram": _records(self.histogram),
            "samples": self.samples,
            "eligible": list(self.eligible),
            "shares": _records(self.shares),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", double_precision=6)) if len(frame) else []


def decision_label(field_name: str, new_value: str | None) -> str:
    """'status → duplicate', 'tag cot added', 'tag cot removed' or 'edited output'."""
    if field_name == "status":
        return f"status → {new_value}"
    if field_name.startswith(TAG_PREFIX):
        return f"tag {field_name[len(TAG_PREFIX) :]} {'added' if new_value == '1' else 'removed'}"
    return f"edited {field_name}"


def decided_rows(store: Store, action_id: int) -> pd.DataFrame:
    """One row per (example, decision) the action made, with reason, source, origin, task and format.

    A status reason written together with a status is part of that decision, not an edit of its own."""
    changes = drops.action_changes(store, action_id)
    status_rows = set(changes.loc[changes["field"] == "status", "example_id"])
    keep = ~((changes["field"] == "status_reason") & changes["example_id"].isin(status_rows))
    changes = changes[keep].copy()
    changes["decision"] = [decision_label(f, v) for f, v in zip(changes["field"], changes["new_value"], strict=True)]
    for name in DIMENSIONS:
        changes[name] = changes[name].where(changes[name].notna(), NONE_LABEL).astype(str)
    reasons = changes["reason"].astype(object).where(changes["reason"].notna(), None)
    is_tag = changes["field"].str.startswith(TAG_PREFIX)
    changes["reason"] = [
        _tag_reason(meta) if tag else reason
        for tag, meta, reason in zip(is_tag, changes["new_meta"], reasons, strict=True)
    ]
    return changes.drop(columns=["new_meta"]).reset_index(drop=True)


def _tag_reason(meta: Any) -> str | None:
    """A tag decision's reason from its metadata: 'manual', or 'auto, score 0.83'."""
    data = json.loads(meta) if isinstance(meta, str) and meta else {}
    source, score = data.get("source"), data.get("score")
    if not source:
        return None
    return f"{source}, score {float(score):.3g}" if score is not None else str(source)


def score_lookup(store: Store, action: dict[str, Any], fields: set[str]) -> tuple[str | None, pd.DataFrame]:
    """(what the score is, (example_id, score)) the action was decided on, or (None, empty) when it has none.

    The one place that knows where each operation keeps its scores: dedup runs their pair scores, every other
    operation the signals table (an operation's action records its name and variant)."""
    params = params_of(action)
    if action["kind"] == "dedup" and params.get("run_id") is not None:
        run_id = int(params["run_id"])
        return f"similarity to the kept row (dedup run {run_id})", drops.dedup_scores(store, run_id, action["id"])
    if params.get("operation"):
        name, variant = str(params["operation"]), str(params.get("variant") or "")
        label = "judge rating" if name == "judge" else f"{name} score"
        return f"{label}{f' ({variant})' if variant else ''}", drops.signal_scores(store, name, variant, action["id"])
    if action["kind"] == "rating-reject":  # recorded before operations named themselves in their params
        rubric = params.get("rubric") or _rubric_from(action.get("description") or "")
        if rubric:
            return f"judge rating ({rubric})", drops.signal_scores(store, "judge", rubric, action["id"])
    if f"{TAG_PREFIX}cot" in fields:
        return "CoT detector score", drops.signal_scores(store, "cot", "", action["id"])
    return None, pd.DataFrame(columns=["example_id", "score"])


def params_of(action: dict[str, Any]) -> dict[str, Any]:
    """An action's params as a dict (stored as JSON text)."""
    value = action.get("params")
    if isinstance(value, dict):
        return value
    return json.loads(value) if isinstance(value, str) and value else {}


def _rubric_from(description: str) -> str | None:
    found = _RUBRIC.search(description)
    return found.group(1) if found else None


def histogram(scores: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """(decision, bin_start, bin_end, rows): equal-width bins over the scores' range, per decision."""
    values = scores["score"].astype(float).to_numpy() if len(scores) else np.array([])
    if len(values) == 0:
        return pd.DataFrame(columns=["decision", "bin_start", "bin_end", "rows"])
    lo, hi = float(values.min()), float(values.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    records = []
    for decision, part in scores.groupby("decision", sort=True):
        counts, _ = np.histogram(part["score"].astype(float), bins=edges)
        records += [
            {"decision": decision, "bin_start": float(edges[i]), "bin_end": float(edges[i + 1]), "rows": int(n)}
            for i, n in enumerate(counts)
        ]
    return pd.DataFrame(records)


def _samples(store: Store, decided: pd.DataFrame, scores: pd.DataFrame, per_decision: int) -> dict[str, list]:
    """A few rows per decision (lowest ids first): id, instruction, reason and score."""
    picked = decided.groupby("decision", sort=True).head(per_decision)
    if picked.empty:
        return {}
    ids = sorted(set(picked["example_id"].astype(int)))
    text = examples.fetch(store, ExampleFilter(ids=ids), ("id", "instruction")).set_index("id")["instruction"]
    score_of = dict(zip(scores["example_id"].astype(int), scores["score"].astype(float), strict=True))
    out: dict[str, list] = {}
    for row in picked.itertuples(index=False):
        out.setdefault(row.decision, []).append(
            {
                "id": int(row.example_id),
                "instruction": str(text.get(int(row.example_id), "")),
                "reason": row.reason,
                "score": score_of.get(int(row.example_id)),
            }
        )
    return out


def mixture_shares(store: Store, action_id: int, eligible: tuple[str, ...] = ELIGIBLE) -> pd.DataFrame:
    """Rows by source and by task among the eligible rows right before and right after the action, with shares."""
    frames = []
    states = {
        "before": drops.rows_at(store, action_id, before=True),
        "after": drops.rows_at(store, action_id, before=False),
    }
    for dim in SHARE_DIMENSIONS:
        counted = []
        for when, rows in states.items():
            ok = rows[rows["status"].isin(eligible)]
            values = ok[dim].where(ok[dim].notna(), NONE_LABEL).astype(str)
            counted.append(values.value_counts().rename(when))
        both = pd.concat(counted, axis=1).fillna(0).astype(int)
        for when in ("before", "after"):
            if when not in both:
                both[when] = 0
        total_before, total_after = max(int(both["before"].sum()), 1), max(int(both["after"].sum()), 1)
        both["before_share"] = both["before"] / total_before
        both["after_share"] = both["after"] / total_after
        both = both.rename_axis("value").reset_index().assign(dimension=dim)
        frames.append(both.sort_values(["before", "value"], ascending=[False, True], kind="stable"))
    if not frames:
        return pd.DataFrame(columns=["dimension", "value", "before", "after", "before_share", "after_share"])
    columns = ["dimension", "value", "before", "after", "before_share", "after_share"]
    return pd.concat(frames, ignore_index=True)[columns]


def _breakdown(decided: pd.DataFrame) -> pd.DataFrame:
    frames = [
        decided.groupby([dim, "decision"], sort=True)
        .size()
        .rename("rows")
        .reset_index()
        .rename(columns={dim: "value"})
        .assign(dimension=dim)
        for dim in DIMENSIONS
    ]
    if decided.empty:
        return pd.DataFrame(columns=["dimension", "value", "decision", "rows"])
    return pd.concat(frames, ignore_index=True)[["dimension", "value", "decision", "rows"]]


def _action_info(store: Store, action_id: int) -> dict[str, Any]:
    action = revisions.get_action(store, action_id)
    if action is None:
        raise KeyError(f"action {action_id} does not exist; see `actions list`")
    return {
        "id": int(action["id"]),
        "kind": action["kind"],
        "author": action["author"],
        "description": action["description"],
        "params": params_of(action),
        "row_count": int(action["row_count"] or 0),
        "created_at": f"{action['created_at']:%Y-%m-%d %H:%M:%S}",
        "undone": action_store.is_undone(store, action_id),
    }


def drop_report(store: Store, action_id: int, *, samples: int = 3, eligible: tuple[str, ...] = ELIGIBLE) -> DropReport:
    """What one action changed: counts per decision and dimension, scores, samples and mixture shares."""
    action = _action_info(store, action_id)
    decided = decided_rows(store, action_id)
    label, found = score_lookup(store, action, set(decided["field"]))
    scores = decided[["example_id", "decision"]].merge(found, on="example_id", how="inner")
    return DropReport(
        action=action,
        decisions={str(k): int(v) for k, v in decided.groupby("decision", sort=True).size().items()},
        breakdown=_breakdown(decided),
        scores=scores,
        score_label=label if len(scores) else None,
        histogram=histogram(scores),
        samples=_samples(store, decided, scores, samples),
        shares=mixture_shares(store, action_id, eligible),
        eligible=tuple(eligible),
    )


def resolve_action(
    store: Store, action: int | None = None, *, dedup_run: int | None = None, run: tuple[str, int] | None = None
) -> int:
    """The action to report on: given directly, the one that applied a dedup run, or the newest action of a kind
    whose params name a run (`run` = (kind, run id), for operations that record their run id)."""
    if sum(x is not None for x in (action, dedup_run, run)) != 1:
        raise ValueError("give one of: an action id, a dedup run, or an action kind with its run id")
    if run is not None:
        found = drops.action_for_run(store, run[0], run[1])
        if found is None:
            raise ValueError(f"no {run[0]!r} action names run {run[1]}; see `actions list --kind {run[0]}`")
        return found
    if dedup_run is None:
        return int(action)
    found = drops.action_for_dedup_run(store, dedup_run)
    if found is None:
        raise ValueError(f"dedup run {dedup_run} was never applied; apply it first (`dedup apply {dedup_run}`)")
    return found
