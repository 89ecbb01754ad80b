"""Review page: bulk approve with confirmation (and undo), and the one-by-one queue with skip and undo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curation.filters import ExampleFilter
from curation.store import Store, examples

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


def test_queue_walks_pending_rows_with_skip_and_undo(app_store: Store) -> None:
    pending = examples.page(app_store, ExampleFilter(statuses=["pending"]), limit=3)["id"].tolist()
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert at.text[0].value.startswith(f"#{pending[0]} ")
    at.button(key="review_q_approve").click().run()
    assert examples.get(app_store, pending[0])["status"] == "approved"
    assert at.text[0].value.startswith(f"#{pending[1]} ")
    at.button(key="review_q_skip").click().run()
    assert at.text[0].value.startswith(f"#{pending[2]} ")
    at.button(key="review_q_reject").click().run()
    assert examples.get(app_store, pending[2])["status"] == "rejected"
    at.button(key="review_q_undo").click().run()
    assert examples.get(app_store, pending[2])["status"] == "pending"
    at.button(key="review_q_undo").click().run()
    assert examples.get(app_store, pending[0])["status"] == "pending"
    assert at.text[0].value.startswith(f"#{pending[0]} ")
    assert at.button(key="review_q_undo").disabled
