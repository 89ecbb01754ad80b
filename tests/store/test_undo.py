"""Undo and redo never clobber later work; bookkeeping is race-free; tags come back exactly; the audit list reads."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from curation.cot import tagging as cot_tagging
from curation.dedup import runs
from curation.store import cot as cot_store
from curation.store import dedup as dedup_store
from curation.store import examples, revisions
from curation.store.actions import UndoConflictError

ROWS = [{"instruction": f"Task number {i}.", "output": f"answer {i}"} for i in range(1, 7)]
COT_ROW = {
    "instruction": "Natalia sold 48 clips. How many?",
    "output": "48 / 2 = 24; 48 + 24 = 72. So the answer is 72.",
}


def state(store) -> dict[int, tuple]:
    rows = store.query_rows("SELECT id, instruction, output, status, status_reason FROM examples ORDER BY id")
    return {r[0]: r[1:] for r in rows}


def apply_dedup(store, members: list[tuple[int, int, bool]], author: str = "dd") -> int:
    """Record a dedup run with the given (cluster, example_id, keep) members, apply it; returns the action id."""
    frame = pd.DataFrame(members, columns=["cluster", "example_id", "keep"]).assign(blocked_by=None, score=0.9)
    run = {"method": "rouge", "mode": "pairs", "scope": "instruction", "threshold": 0.7, "rule": "ge"}
    run_id = dedup_store.create_run(store, run, pd.DataFrame(columns=["a_id", "b_id", "score"]), frame)
    return runs.apply_run(store, run_id, author=author, accept_all=True).action_id


# -- the four reproduced cases of issue 11 -------------------------------------------------------------------
def test_undo_of_an_older_edit_keeps_the_newer_edit(make_store) -> None:
    store = make_store(ROWS)
    first = revisions.update_example(store, 1, {"output": "B"}, expected_version=1, author="ann")
    revisions.update_example(store, 1, {"output": "C"}, expected_version=first, author="ann")
    edit_b = int(revisions.list_actions(store)["id"].iloc[-1])
    with pytest.raises(UndoConflictError) as err:
        revisions.undo_action(store, edit_b, author="ann")
    assert err.value.rows == [1] and [a.kind for a in err.value.later] == ["edit"]
    assert "undo #2 first" in str(err.value)
    assert examples.get(store, 1)["output"] == "C"
    assert not revisions.get_action(store, edit_b)["undone_by"]  # nothing recorded either


def test_undo_of_a_bulk_approve_keeps_a_later_rejection_and_its_reason(make_store) -> None:
    store = make_store(ROWS)
    bulk = revisions.set_status(store, "approved", author="ann", ids=[1, 2, 3], kind="bulk-review")
    revisions.set_status(store, "rejected", author="bob", ids=[2], reason="wrong answer")
    with pytest.raises(UndoConflictError) as err:
        revisions.undo_action(store, bulk.action_id, author="ann")
    assert err.value.rows == [2] and err.value.later[0].author == "bob"
    result = revisions.undo_action(store, bulk.action_id, author="ann", skip_changed=True)
    assert result.skipped == (2,) and result.rows == 2
    now = state(store)
    assert [now[i][2:] for i in (1, 2, 3)] == [("pending", None), ("rejected", "wrong answer"), ("pending", None)]


def test_undo_of_a_dedup_keeps_later_reviews_of_its_duplicates(make_store) -> None:
    store = make_store(ROWS)
    action = apply_dedup(store, [(0, 1, True), (0, 2, False), (0, 3, False), (0, 4, False)])
    revisions.set_status(store, "approved", author="ann", ids=[2])
    revisions.set_status(store, "rejected", author="ann", ids=[3], reason="off topic")
    with pytest.raises(UndoConflictError) as err:
        runs.undo_run(store, action, author="ann")
    assert err.value.rows == [2, 3]
    runs.undo_run(store, action, author="ann", skip_changed=True)
    now = state(store)
    assert [now[i][2:] for i in (2, 3, 4)] == [("approved", None), ("rejected", "off topic"), ("pending", None)]


def test_undo_of_one_of_two_overlapping_dedups_leaves_the_other_runs_rows(make_store) -> None:
    store = make_store(ROWS)
    first = apply_dedup(store, [(0, 1, True), (0, 2, False), (0, 3, False)])
    apply_dedup(store, [(0, 4, True), (0, 3, False), (0, 5, False)])  # row 3 is marked by both runs
    with pytest.raises(UndoConflictError) as err:
        runs.undo_run(store, first, author="ann")
    assert err.value.rows == [3]
    runs.undo_run(store, first, author="ann", skip_changed=True)
    now = state(store)
    assert now[2][2] == "pending" and now[3][2] == "duplicate" and "dedup run 2" in now[3][3]
    assert now[5][2] == "duplicate"


def test_force_overwrites_and_records_what_it_overwrote(make_store) -> None:
    store = make_store(ROWS)
    bulk = revisions.set_status(store, "approved", author="ann", ids=[1, 2])
    revisions.set_status(store, "rejected", author="bob", ids=[2], reason="no")
    result = revisions.undo_action(store, bulk.action_id, author="ann", force=True)
    assert result.skipped == () and [state(store)[i][2:] for i in (1, 2)] == [("pending", None)] * 2
    assert '"overwritten": [2]' in revisions.get_action(store, result.action_id)["params"]


# -- redo and bookkeeping ------------------------------------------------------------------------------------
def test_redo_restores_the_undone_state_and_chains(make_store) -> None:
    store = make_store(ROWS)
    bulk = revisions.set_status(store, "approved", author="ann", ids=[1, 2], reason="fine")
    after_action = state(store)
    undo = revisions.undo_action(store, bulk.action_id, author="ann")
    before_action = state(store)
    with pytest.raises(ValueError, match="already undone"):
        revisions.undo_action(store, bulk.action_id, author="ann")
    redo = revisions.redo_action(store, bulk.action_id, author="bob")
    assert state(store) == after_action and revisions.get_action(store, redo.action_id)["kind"] == "redo"
    with pytest.raises(ValueError, match="nothing to redo"):
        revisions.redo_action(store, bulk.action_id, author="bob")
    revisions.undo_action(store, bulk.action_id, author="ann")  # undoes the redo
    assert state(store) == before_action
    links = [revisions.get_action(store, i) for i in (bulk.action_id, undo.action_id, redo.action_id)]
    assert [a["undone_by"] is not None for a in links] == [True, True, True]  # never reset to NULL


def test_an_undo_that_changes_nothing_is_still_recorded(make_store) -> None:
    store = make_store(ROWS)
    bulk = revisions.set_status(store, "approved", author="ann", ids=[1])
    revisions.set_status(store, "rejected", author="bob", ids=[1])
    result = revisions.undo_action(store, bulk.action_id, author="ann", skip_changed=True)
    assert result.action_id is not None and result.rows == 0 and result.skipped == (1,)
    assert revisions.get_action(store, bulk.action_id)["undone_by"] == result.action_id
    assert "kept 1 changed row (#1)" in revisions.get_action(store, result.action_id)["description"]


def test_two_tabs_undoing_the_same_action_one_wins(make_store) -> None:
    store = make_store(ROWS)
    bulk = revisions.set_status(store, "approved", author="ann", ids=[1, 2, 3])
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def tab() -> None:
        barrier.wait()
        try:
            revisions.undo_action(store, bulk.action_id, author="tab")
            outcomes.append("undone")
        except ValueError as err:
            outcomes.append(str(err))

    threads = [threading.Thread(target=tab) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[-1] == "undone" and "already undone" in sorted(outcomes)[0]
    assert len(revisions.list_actions(store, ["undo"])) == 1


# -- tags ----------------------------------------------------------------------------------------------------
def test_tag_undo_restores_source_score_and_detail(make_store) -> None:
    store = make_store([{**ROWS[0], "tags": ["math"]}, COT_ROW])
    cot_tagging.tag_rows(store, threshold=0.5)
    before = store.query_rows(
        "SELECT example_id, tag, source, score, CAST(detail AS VARCHAR) FROM example_tags ORDER BY 1, 2"
    )
    assert [r[2] for r in before] == ["import", "auto"]
    edit = revisions.update_example(store, 1, {"tags": []}, expected_version=1, author="ann")
    assert edit == 2
    untag = revisions.set_tag(store, "cot", False, author="ann", ids=[2])
    revisions.undo_action(store, untag.action_id, author="ann")
    revisions.undo_action(store, int(revisions.list_actions(store, ["edit"])["id"].iloc[0]), author="ann")
    after = store.query_rows(
        "SELECT example_id, tag, source, score, CAST(detail AS VARCHAR) FROM example_tags ORDER BY 1, 2"
    )
    assert [r[:4] for r in after] == [r[:4] for r in before] and after[1][4].replace(" ", "") == before[1][4].replace(
        " ", ""
    )


def test_browse_save_of_a_row_opened_before_a_cot_run_keeps_the_auto_tag(make_store) -> None:
    store = make_store([COT_ROW])
    loaded = examples.get(store, 1)  # the editor opened before the CoT run: no tags
    cot_tagging.tag_rows(store, threshold=0.5)
    revisions.update_example(
        store, 1, {"output": loaded["output"] + " Done.", "tags_added": [], "tags_removed": []},
        expected_version=loaded["version"], author="ann",
    )  # fmt: skip
    assert store.query_rows("SELECT tag, source FROM example_tags") == [("cot", "auto")]
    assert cot_store.summary(store, 0.5)["manual"] == 0


def test_undo_of_a_manual_cot_confirmation_returns_the_row_to_auto(make_store) -> None:
    store = make_store([COT_ROW, ROWS[0]])
    cot_tagging.tag_rows(store, threshold=0.5)
    confirm = cot_tagging.set_manual(store, True, author="ann", ids=[1])  # already auto-tagged: becomes manual
    no = cot_tagging.set_manual(store, False, author="ann", ids=[2])  # already untagged: manual "not CoT"
    assert cot_store.summary(store, 0.5)["manual"] == 2
    revisions.undo_action(store, confirm.action_id, author="ann")
    revisions.undo_action(store, no.action_id, author="ann")
    assert cot_store.summary(store, 0.5)["manual"] == 0
    assert store.query_rows("SELECT example_id, source FROM example_tags") == [(1, "auto")]


# -- history, audit list, revert -----------------------------------------------------------------------------
def test_history_renders_for_rows_touched_by_every_kind_of_action(make_store) -> None:
    from curation.diffs import inline_diff, text_diff

    store = make_store([COT_ROW, *ROWS[:3]])
    action = apply_dedup(store, [(0, 2, True), (0, 3, False)])
    runs.undo_run(store, action, author="ann")
    cot_tagging.set_manual(store, True, author="ann", ids=[1, 3])
    revisions.set_status(store, "approved", author="ann", ids=[3])
    for example_id in (1, 3):
        hist = revisions.history(store, example_id)
        assert not hist.empty
        for old, new in zip(hist["old_value"], hist["new_value"], strict=True):
            assert isinstance(inline_diff(old, new), str) and isinstance(text_diff(old, new), str)
    assert inline_diff(float("nan"), "x") == "{+x+}"


def test_audit_list_says_what_changed_on_which_rows(make_store) -> None:
    store = make_store([{"instruction": f"row {i}"} for i in range(70)])
    from curation.filters import ExampleFilter

    revisions.set_status(store, "approved", author="ann", flt=ExampleFilter(sources=["test"]))
    revisions.update_example(store, 12, {"output": "x"}, expected_version=2, author="ann")
    revisions.set_tag(store, "math", True, author="ann", ids=[3])
    described = revisions.list_actions(store)["description"].tolist()
    assert described == [
        "tagged math #3",
        "edited output #12",
        "filter source: test: approved #1, #2, #3, #4, #5, … (70 rows)",
    ]
    assert not any("nan" in d or "['" in d or "1 rows" in d for d in described)
    words = ExampleFilter(statuses=["approved", "pending"], ids=[4], search="hi", untagged=["cot"]).describe()
    assert words == "text contains 'hi'; status: approved, pending; without tag: cot; id: #4"


def test_revert_over_someone_elses_review_asks_first(make_store) -> None:
    store = make_store(ROWS)
    version = revisions.update_example(store, 1, {"output": "B"}, expected_version=1, author="ann")
    edit_rev = int(revisions.history(store, 1)["revision_id"].iloc[-1])
    revisions.set_status(store, "approved", author="bob", ids=[1])
    with pytest.raises(UndoConflictError, match="review by bob"):
        revisions.revert_to(store, 1, edit_rev, expected_version=version + 1, author="ann")
    assert examples.get(store, 1)["status"] == "approved"
    revisions.revert_to(store, 1, 0, expected_version=version + 1, author="ann", force=True)
    assert state(store)[1] == ("Task number 1.", "answer 1", "pending", None)


def test_undo_refuses_when_later_work_put_the_same_value_back(make_store) -> None:
    store = make_store(ROWS)
    first = revisions.set_status(store, "rejected", author="alice", ids=[1])
    revisions.set_status(store, "approved", author="bob", ids=[1])
    revisions.set_status(store, "rejected", author="bob", ids=[1])  # back to what alice wrote, by bob's own decision
    with pytest.raises(UndoConflictError) as err:
        revisions.undo_action(store, first.action_id, author="alice")
    assert err.value.rows == [1]
    assert state(store)[1][2] == "rejected"
