"""Campaigns: balanced assignment with overlap, separate responses, resolution rules, kappa on hand-computed data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curation.filters import ExampleFilter
from curation.identity import PermissionDenied, User, acting_as
from curation.store import examples, revisions
from curation.store import team as team_store
from curation.team import agreement, campaigns

ANNOTATORS = ("ann", "bea", "cai")


@pytest.fixture
def store(make_store):
    return make_store(
        [{"instruction": f"Task {i}", "output": f"out {i}", "task": "t" if i < 3 else "u"} for i in range(6)]
    )


def _campaign(store, overlap=2):
    spec = campaigns.CampaignSpec("round 1", ExampleFilter(), ANNOTATORS, overlap, "approve clear tasks")
    return campaigns.create(store, spec, author="cur")


def test_three_annotators_overlap_two_are_balanced_and_distinct(store) -> None:
    cid = _campaign(store)
    assigned = team_store.assignments(store, cid)
    assert len(assigned) == 12  # 6 rows x 2 reviews
    assert assigned.groupby("example_id").annotator.nunique().tolist() == [2] * 6
    assert sorted(assigned.groupby("annotator").size().tolist()) == [4, 4, 4]


def test_responses_are_kept_per_annotator_and_never_touch_the_row(store) -> None:
    cid = _campaign(store)
    rows = team_store.assignments(store, cid)
    first = int(rows.example_id.iloc[0])
    pair = rows[rows.example_id == first].annotator.tolist()
    campaigns.respond(store, cid, first, "approved", annotator=pair[0])
    campaigns.respond(store, cid, first, "rejected", annotator=pair[1], reason="vague")
    latest = team_store.latest_responses(store, cid)
    assert dict(zip(latest.annotator, latest.decision, strict=True)) == {pair[0]: "approved", pair[1]: "rejected"}
    assert examples.get(store, first)["status"] == "pending"
    outsider = next(a for a in ANNOTATORS if a not in pair)
    with pytest.raises(ValueError, match="not assigned"):
        campaigns.respond(store, cid, first, "approved", annotator=outsider)


def _answer_all(store, cid, decide):
    for row in team_store.assignments(store, cid).itertuples():
        campaigns.respond(
            store, cid, int(row.example_id), decide(int(row.example_id), row.annotator), annotator=row.annotator
        )


def test_unanimous_rule_resolves_only_agreed_rows_as_one_undoable_action(store) -> None:
    cid = _campaign(store)
    ids = sorted(set(team_store.assignments(store, cid).example_id))
    split = ids[0]
    _answer_all(store, cid, lambda row, who: "rejected" if row == split and who == "ann" else "approved")
    disagreeing = campaigns.agreement_report(store, cid)["disagreements"]
    result = campaigns.resolve(store, cid, "unanimous", author="cur", final_calls={})
    expected_resolved = [i for i in ids if i not in disagreeing]
    statuses = {i: examples.get(store, i)["status"] for i in ids}
    assert [i for i, s in statuses.items() if s == "approved"] == expected_resolved
    assert result.rows == len(expected_resolved)
    revisions.undo_action(store, result.action_id, author="cur")
    assert {examples.get(store, i)["status"] for i in ids} == {"pending"}


def test_majority_needs_more_than_half_of_k_and_final_calls_win(store) -> None:
    cid = _campaign(store, overlap=3)
    ids = sorted(set(team_store.assignments(store, cid).example_id))
    _answer_all(store, cid, lambda row, who: "rejected" if who == "ann" else "approved")
    out = campaigns.outcome(store, cid, "majority")
    assert set(out.resolved) == {"approved"}  # 2 of 3 everywhere
    assert campaigns.outcome(store, cid, "unanimous").resolved.isna().all()
    campaigns.resolve(store, cid, "unanimous", author="cur", final_calls={ids[0]: "rejected"})
    assert examples.get(store, ids[0])["status"] == "rejected"
    assert examples.get(store, ids[1])["status"] == "pending"


def test_cohen_kappa_matches_a_hand_computed_example() -> None:
    # agreement 5/6; p(A)=4/6 and 3/6 -> chance = 4/6*3/6 + 2/6*3/6 = 1/2; kappa = (5/6 - 1/2) / (1/2) = 2/3
    a = ["A", "A", "R", "R", "A", "A"]
    b = ["A", "R", "R", "R", "A", "A"]
    assert agreement.cohen_kappa(a, b) == pytest.approx(2 / 3)
    assert math.isnan(agreement.cohen_kappa(["A", "A"], ["A", "A"]))


def test_fleiss_kappa_matches_the_textbook_example() -> None:
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa 0.210
    counts = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert agreement.fleiss_kappa(counts) == pytest.approx(0.2099, abs=5e-4)


def test_agreement_report_in_a_campaign(store) -> None:
    cid = _campaign(store)
    _answer_all(store, cid, lambda row, who: "approved" if (row + len(who)) % 2 else "rejected")
    report = campaigns.agreement_report(store, cid)
    assert set(report["pairs"].rows) == {2}  # each pair shares 2 of the 6 rows
    assert report["fleiss_rows"] == 6
    assert set(report["groups"].by) == {"source", "task"}


def test_annotators_only_act_on_their_assigned_rows_and_viewers_on_nothing(store) -> None:
    cid = _campaign(store)
    rows = team_store.assignments(store, cid)
    mine = int(rows[rows.annotator == "ann"].example_id.iloc[0])
    other = int(rows[~rows.example_id.isin(rows[rows.annotator == "ann"].example_id)].example_id.iloc[0])
    with acting_as(User("ann", "annotator")):
        revisions.update_example(store, mine, {"output": "better"}, expected_version=1, author="ann")
        with pytest.raises(PermissionDenied, match="assigned"):
            revisions.update_example(store, other, {"output": "x"}, expected_version=1, author="ann")
        with pytest.raises(PermissionDenied, match="curator"):
            revisions.set_status(store, "approved", author="ann", ids=[mine])
        with pytest.raises(PermissionDenied):
            campaigns.create(store, campaigns.CampaignSpec("x", ExampleFilter(), ("ann",), 1), author="ann")
    with acting_as(User("vic", "viewer")), pytest.raises(PermissionDenied, match="viewer"):
        campaigns.respond(store, cid, mine, "approved", annotator="vic")
    assert examples.get(store, other)["output"] == "out " + str(other - 1)


def test_jobs_and_snapshots_record_the_acting_user(store, tmp_path) -> None:
    from curation.jobs import JobRunner
    from curation.store import jobs_table

    runner = JobRunner(store)
    with acting_as(User("cur", "curator")):
        runner.run("noop", lambda ctx: {"ok": True})
        job_id = runner.submit("noop", lambda ctx: {"ok": True})
    assert runner.wait(job_id, 30)["status"] == "succeeded"
    assert set(jobs_table.list_jobs(store, kinds=["noop"], limit=5)["author"]) == {"cur"}


def test_annotators_never_change_a_rows_status_even_on_their_rows(store) -> None:
    cid = _campaign(store)
    rows = team_store.assignments(store, cid)
    mine = int(rows[rows.annotator == "ann"].example_id.iloc[0])
    with acting_as(User("ann", "annotator")), pytest.raises(PermissionDenied, match="may not change status"):
        revisions.update_example(store, mine, {"status": "approved"}, expected_version=1, author="ann")
    assert examples.get(store, mine)["status"] == "pending"


def test_viewers_cannot_cancel_jobs(store) -> None:
    from curation.jobs import JobRunner
    from curation.store import jobs_table

    job_id = jobs_table.create(store, "finetune", {})
    with acting_as(User("vic", "viewer")), pytest.raises(PermissionDenied, match="needs the admin role"):
        JobRunner(store).cancel(job_id)
    assert not jobs_table.cancel_requested(store, job_id)


def test_a_role_change_in_the_users_file_applies_at_once(tmp_path, monkeypatch) -> None:
    import time

    import yaml

    from curation.team import accounts

    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump({"users": {"dem": {"role": "curator", "password_hash": ""}}}))
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(path))
    assert accounts.current_accounts()["dem"].role == "curator"
    time.sleep(0.01)
    path.write_text(yaml.safe_dump({"users": {"dem": {"role": "viewer", "password_hash": ""}}}))
    import os

    os.utime(path, (time.time() + 5, time.time() + 5))  # a new mtime even on coarse file systems
    assert accounts.current_accounts()["dem"].role == "viewer"
