"""Review campaigns: rows matching a filter, each assigned to `overlap` annotators; every annotator's decision
is kept on its own; the row's status is resolved by a rule (unanimous, majority, or a curator's call) as one
undoable action.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from curation.filters import ExampleFilter
from curation.store import Store, examples, revisions, team
from curation.store.revisions import ActionResult
from curation.team import agreement

RULES = ("unanimous", "majority")


@dataclass(frozen=True)
class CampaignSpec:
    """What a curator asks for: which rows, who reviews, how many reviews per row."""

    name: str
    flt: ExampleFilter
    annotators: tuple[str, ...]
    overlap: int
    guidelines: str = ""

    def check(self) -> None:
        if not self.name.strip():
            raise ValueError("a campaign needs a name")
        if len(set(self.annotators)) != len(self.annotators) or not self.annotators:
            raise ValueError("annotators must be one or more distinct user names")
        if not 1 <= self.overlap <= len(self.annotators):
            raise ValueError(f"overlap must be between 1 and {len(self.annotators)} (the number of annotators)")


def assign(ids: list[int], annotators: tuple[str, ...], overlap: int) -> list[tuple[int, str]]:
    """Give each row `overlap` distinct annotators, round robin, so loads differ by at most one."""
    n = len(annotators)
    return [(row, annotators[(i * overlap + j) % n]) for i, row in enumerate(ids) for j in range(overlap)]


def create(store: Store, spec: CampaignSpec, *, author: str) -> int:
    """Create a campaign over the rows matching the filter; returns its id."""
    spec.check()
    team.authorize(store, "campaign-create")
    ids = [int(i) for i in examples.fetch(store, spec.flt, ("id",))["id"]]
    if not ids:
        raise ValueError(f"no rows match the filter ({spec.flt.describe()}); nothing to review")
    return team.create_campaign(
        store,
        name=spec.name.strip(),
        flt=spec.flt.to_dict(),
        annotators=list(spec.annotators),
        overlap=spec.overlap,
        guidelines=spec.guidelines,
        created_by=author,
        assignments=assign(ids, spec.annotators, spec.overlap),
    )


def respond(store: Store, campaign_id: int, example_id: int, decision: str, *, annotator: str, reason: str = "") -> int:
    """Record one annotator's decision on a row assigned to them (never touches the row or others' answers)."""
    campaign = team.get_campaign(store, campaign_id)
    if campaign is None:
        raise ValueError(f"no campaign #{campaign_id}")
    if campaign["closed_at"] is not None:
        raise ValueError(f"campaign #{campaign_id} is closed")
    team.authorize(store, "campaign-response", [example_id])
    if not team.is_assigned(store, campaign_id, example_id, annotator):
        raise ValueError(f"row #{example_id} is not assigned to {annotator} in campaign #{campaign_id}")
    return team.add_response(store, campaign_id, example_id, annotator, decision, reason or None)


def progress(store: Store, campaign_id: int) -> pd.DataFrame:
    """Per annotator: rows assigned, answered, left."""
    assigned = team.assignments(store, campaign_id).groupby("annotator").size().rename("assigned")
    answered = team.latest_responses(store, campaign_id).groupby("annotator").size().rename("answered")
    frame = pd.concat([assigned, answered], axis=1).fillna(0).astype(int)
    frame["left"] = frame["assigned"] - frame["answered"]
    return frame.reset_index(names="annotator")


def outcome(store: Store, campaign_id: int, rule: str) -> pd.DataFrame:
    """Per row: the decisions so far and what the rule resolves them to (None while undecided)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
    campaign = team.get_campaign(store, campaign_id)
    if campaign is None:
        raise ValueError(f"no campaign #{campaign_id}")
    k = int(campaign["overlap"])
    matrix = agreement.decision_matrix(team.latest_responses(store, campaign_id))
    rows = []
    for example_id, decisions in matrix.iterrows():
        votes = decisions.dropna().value_counts()
        top, count = (votes.index[0], int(votes.iloc[0])) if len(votes) else (None, 0)
        if rule == "unanimous":
            resolved = top if count == k and len(votes) == 1 else None
        else:
            resolved = top if count > k / 2 else None
        rows.append({"example_id": int(example_id), "responses": int(votes.sum()), "resolved": resolved})
    return pd.DataFrame(rows, columns=["example_id", "responses", "resolved"])


def resolve(
    store: Store, campaign_id: int, rule: str, *, author: str, final_calls: dict[int, str] | None = None
) -> ActionResult:
    """Set the status of every row the rule decides (and every row a curator called) as one undoable action."""
    team.authorize(store, "campaign-resolve")
    decided = outcome(store, campaign_id, rule).dropna(subset=["resolved"])
    calls = {int(k): v for k, v in (final_calls or {}).items()}
    bad = {v for v in calls.values() if v not in team.DECISIONS}
    if bad:
        raise ValueError(f"a final call must be one of {', '.join(team.DECISIONS)}; got {sorted(bad)}")
    status = dict(zip(decided["example_id"], decided["resolved"], strict=True)) | calls
    if not status:
        return ActionResult(None, 0, 0)
    changes = pd.DataFrame({"example_id": list(status), "field": "status", "new_value": list(status.values())})
    what = f"campaign #{campaign_id} by {rule}" + (f" + {len(calls)} final calls" if calls else "")
    return revisions.apply_changes(
        store,
        changes,
        kind="campaign-resolve",
        author=author,
        description=what,
        params={"campaign": campaign_id, "rule": rule, "final_calls": calls},
    )


def agreement_report(store: Store, campaign_id: int) -> dict:
    """Pairwise Cohen's kappa, per-annotator mean, Fleiss' kappa, and the rows annotators disagree on."""
    campaign = team.get_campaign(store, campaign_id)
    if campaign is None:
        raise ValueError(f"no campaign #{campaign_id}")
    matrix = agreement.decision_matrix(team.latest_responses(store, campaign_id))
    if matrix.empty:
        return {
            "pairs": agreement.pairwise(matrix),
            "annotators": pd.DataFrame(),
            "fleiss": float("nan"),
            "fleiss_rows": 0,
            "disagreements": [],
            "groups": pd.DataFrame(),
        }
    fleiss, used = agreement.fleiss_for(matrix, int(campaign["overlap"]))
    return {
        "pairs": agreement.pairwise(matrix),
        "annotators": agreement.per_annotator(matrix),
        "fleiss": fleiss,
        "fleiss_rows": used,
        "disagreements": agreement.disagreements(matrix),
        "groups": _by_group(store, matrix, int(campaign["overlap"])),
    }


def _by_group(store: Store, matrix: pd.DataFrame, overlap: int) -> pd.DataFrame:
    """Fleiss' kappa per source and per task, over rows with all responses."""
    meta = examples.fetch(store, ExampleFilter(), ("id", "task")).set_index("id")
    meta = meta.reindex(matrix.index)
    rows = []
    for column in ("source", "task"):
        for value, ids in meta.groupby(meta[column].fillna("(none)")).groups.items():
            kappa, used = agreement.fleiss_for(matrix.loc[ids], overlap)
            rows.append({"by": column, "group": value, "rows": used, "fleiss_kappa": kappa})
    return pd.DataFrame(rows, columns=["by", "group", "rows", "fleiss_kappa"])
