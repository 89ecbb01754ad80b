"""Overview page (pages/0_Overview.py via app.py): counts, charts, length histogram, undo, empty-store hint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curation.filters import ExampleFilter
from curation.io import sample_data
from curation.store import Store, examples, revisions

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def with_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "1")


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_overview_shows_counts_and_charts(with_sample) -> None:
    at = run_app()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    status = dict(examples.counts_by(store, "status").itertuples(index=False))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Examples"] == f"{sum(status.values()):,}"
    assert (metrics["Pending"], metrics["Approved"]) == (f"{status['pending']:,}", f"{status['approved']:,}")
    assert metrics["Sources"] == "7"
    assert len(at.get("vega_lite_chart")) == 7  # six grouping tabs + the length histogram
    tables = [df.value for df in at.dataframe]
    origin_table = next(t for t in tables if "Origin" in t.columns)
    assert set(origin_table["Origin"]) == {"seed", "templated", "generated", "imported"}
    at.selectbox(key="overview_length_field").set_value("output").run()
    assert not at.exception


def test_undo_button_restores_a_bulk_review(with_sample) -> None:
    run_app()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    before = examples.fetch(store, columns=("id", "status"))
    action = revisions.set_status(store, "rejected", author="tester", ids=[1, 2, 3, 40])
    at = run_app()
    assert any(f"#{action.action_id} review" in t.value for t in at.text)
    at.button(key=f"overview_actions_undo_{action.action_id}").click().run()
    assert [s.value for s in at.success] == [f"Undid action #{action.action_id}: 4 rows restored."]
    assert examples.fetch(store, columns=("id", "status")).equals(before)
    assert any(t.value == f"of #{action.action_id}" for t in at.text)  # the undo action, listed above it
    at.button(key=f"overview_actions_redo_{action.action_id}").click().run()
    assert [s.value for s in at.success] == [f"Redid action #{action.action_id}: 4 rows changed."]
    assert set(examples.fetch(store, ExampleFilter(ids=[1, 2, 3, 40]), columns=("status",))["status"]) == {"rejected"}


def test_undo_that_would_clobber_a_later_review_offers_the_three_choices(with_sample) -> None:
    run_app()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    one, two, three = examples.page(store, ExampleFilter(statuses=["pending"]), limit=3)["id"].tolist()
    bulk = revisions.set_status(store, "approved", author="ann", ids=[one, two, three])
    revisions.set_status(store, "rejected", author="bob", ids=[two], reason="wrong")
    at = run_app()
    at.button(key=f"overview_actions_undo_{bulk.action_id}").click().run()
    warning = at.warning[0].value.replace("\\", "")  # shown inert: markdown characters are escaped
    assert f"1 of 3 rows were changed since by #{bulk.action_id + 1} review by bob (1 row): #{two}" in warning
    assert examples.get(store, one)["status"] == "approved"  # nothing changed yet
    at.button(key="overview_actions_skip").click().run()
    assert examples.get(store, one)["status"] == "pending"
    assert (examples.get(store, two)["status"], examples.get(store, two)["status_reason"]) == ("rejected", "wrong")
    assert "Kept 1 row changed since as they are." in at.success[0].value


def test_empty_store_points_to_import() -> None:
    at = run_app()
    assert at.metric[0].value == "0"
    assert "The store is empty" in at.info[0].value


def test_overview_counts_duplicates(with_sample) -> None:
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    sample_data.load_sample(store)
    pending = examples.page(store, ExampleFilter(statuses=["pending"]), limit=2)["id"].tolist()
    already = dict(examples.counts_by(store, "status").itertuples(index=False)).get("duplicate", 0)
    revisions.set_status(store, "duplicate", author="t", ids=pending)
    store.close()
    metrics = {m.label: m.value for m in run_app().metric}
    assert metrics["Duplicate"] == f"{already + 2:,}"
