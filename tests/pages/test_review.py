"""Review page: bulk approve with confirmation (and undo), and the one-by-one queue with skip and undo."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from curation.filters import ExampleFilter
from curation.store import Store, cot, examples, ratings, scores

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "2_Review.py")


@pytest.fixture
def app_store(monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "1")
    AppTest.from_file(PAGE, default_timeout=60).run()
    return Store(os.environ["INSTRUCT_CURATOR_DB"])


def statuses(store: Store) -> dict[int, str]:
    return dict(examples.fetch(store, columns=("id", "status"))[["id", "status"]].itertuples(index=False))


def test_bulk_approve_asks_then_changes_exactly_the_matching_rows(app_store: Store) -> None:
    before = statuses(app_store)
    math = set(examples.fetch(app_store, ExampleFilter(tags=["math"]), columns=("id",))["id"])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.multiselect(key="filter_w_tags").select("math").run()
    at.button(key="review_bulk_approved").click().run()
    assert at.warning[0].value == f"Set {len(math)} rows to 'approved'? This is one undoable action."
    assert statuses(app_store) == before  # nothing changes before the confirmation
    at.button(key="review_confirm_yes").click().run()
    after = statuses(app_store)
    assert {i for i in after if after[i] != before[i]} == {i for i in math if before[i] != "approved"}
    assert all(after[i] == "approved" for i in math)
    action_id = int(examples.count(app_store) and app_store.query_value("SELECT max(id) FROM actions"))
    assert f"(action #{action_id})" in at.success[0].value
    at.button(key=f"review_actions_undo_{action_id}").click().run()
    assert statuses(app_store) == before


def test_bulk_cancel_changes_nothing(app_store: Store) -> None:
    before = statuses(app_store)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.button(key="review_bulk_rejected").click().run()
    at.button(key="review_confirm_no").click().run()
    assert not at.warning and statuses(app_store) == before


def shown_id(at: AppTest) -> int:
    """The id in the record view's header line (`\\#12 · **pending** · ...`)."""
    return int(next(m.value for m in at.markdown if m.value.startswith("\\#"))[2:].split(" ")[0])


def test_queue_walks_pending_rows_with_skip_and_undo(app_store: Store) -> None:
    pending = examples.page(app_store, ExampleFilter(statuses=["pending"]), limit=3)["id"].tolist()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert shown_id(at) == pending[0]
    at.button(key="review_q_approve").click().run()
    assert examples.get(app_store, pending[0])["status"] == "approved"
    assert shown_id(at) == pending[1]
    at.button(key="review_q_skip").click().run()
    assert shown_id(at) == pending[2]
    at.button(key="review_q_reject").click().run()
    assert examples.get(app_store, pending[2])["status"] == "rejected"
    at.button(key="review_q_undo").click().run()
    assert examples.get(app_store, pending[2])["status"] == "pending"
    at.button(key="review_q_undo").click().run()
    assert examples.get(app_store, pending[0])["status"] == "pending"
    assert shown_id(at) == pending[0]
    assert at.button(key="review_q_undo").disabled


def test_queue_keys_step_with_j_and_k_and_e_edits_in_place(app_store: Store) -> None:
    pending = examples.page(app_store, ExampleFilter(statuses=["pending"]), limit=3)["id"].tolist()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    shortcuts = {b.key: b.proto.shortcut for b in at.button if b.key.startswith("review_q_") and b.proto.shortcut}
    assert shortcuts == {
        "review_q_approve": "a", "review_q_reject": "d", "review_q_skip": "s", "review_q_undo": "u",
        "review_q_edit": "e", "review_q_previous": "k", "review_q_next": "j",
    }  # fmt: skip
    assert at.button(key="review_q_previous").disabled
    at.button(key="review_q_next").click().run()
    assert shown_id(at) == pending[1]
    at.button(key="review_q_previous").click().run()
    assert shown_id(at) == pending[0]
    at.button(key="review_q_edit").click().run()
    at.text_area(key=f"review_q_edit_{pending[0]}_output").set_value("A better answer.")
    at.button(key=f"FormSubmitter:review_q_edit_form_{pending[0]}-Save").click().run()
    assert examples.get(app_store, pending[0])["output"] == "A better answer."
    assert examples.get(app_store, pending[0])["status"] == "pending"  # an edit is not a decision
    assert any(s.value.startswith(f"Saved #{pending[0]}") for s in at.success)
    assert not [t for t in at.text_area if t.key.startswith("review_q_edit_")]  # the form closed


def test_the_record_view_shows_every_stored_score(app_store: Store) -> None:
    first = int(examples.page(app_store, ExampleFilter(statuses=["pending"]), limit=1)["id"].iloc[0])
    frame = pd.DataFrame([{"example_id": first, "score": 0.8125, "signals": "[]", "example_version": 1}])
    cot.save_scores(app_store, frame)
    ratings.save_ratings(app_store, "helpfulness", [(first, 4.0, "clear and correct")], model="judge", job_id=1)
    assert scores.example_scores(app_store, first) == [
        {"name": "CoT score", "score": 0.8125, "label": None, "detail": "", "stale": False},
        {"name": "judge: helpfulness", "score": 4.0, "label": None, "detail": "clear and correct", "stale": False},
    ]
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    shown = [c.value.replace("\\", "") for c in at.caption]
    assert "CoT score: 0.812" in shown  # three decimals
    assert "judge: helpfulness: 4 — clear and correct" in shown
