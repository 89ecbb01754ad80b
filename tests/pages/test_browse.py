"""Browse page: filters drive the count, paging, the editor writes revisions, conflicts keep both versions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curation.filters import ExampleFilter
from curation.store import Store, examples, revisions

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "1_Browse.py")


@pytest.fixture
def app_store(monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "1")
    AppTest.from_file(PAGE, default_timeout=60).run()  # opens the app's store and fills it with the sample
    return Store(os.environ["INSTRUCT_CURATOR_DB"])


def count_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "matching rows" in m.value)


def open_row(example_id: int) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.number_input(key="browse_goto").set_value(example_id).run()
    at.button(key="browse_open").click().run()
    assert not at.exception, at.exception
    return at


def save(at: AppTest, example_id: int) -> None:
    at.button(key=f"FormSubmitter:browse_form_{example_id}-Save").click().run()
    assert not at.exception, at.exception


def test_filter_changes_the_count_and_the_rows(app_store: Store) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    total = examples.count(app_store)
    assert count_line(at).startswith(f"**{total:,} matching rows**")
    at.text_input(key="filter_w_search").input("capital").run()
    expected = examples.count(app_store, ExampleFilter(search="capital"))
    assert 0 < expected < total
    assert count_line(at) == f"**{expected} matching rows** · page 1 of 1"
    assert all("capital" in text.lower() for text in at.dataframe[0].value["instruction"])
    at.multiselect(key="filter_w_origins").select("templated").run()
    assert count_line(at).startswith(
        f"**{examples.count(app_store, ExampleFilter(search='capital', origins=['templated']))} "
    )


def test_paging_and_sorting_are_server_side(app_store: Store) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert at.dataframe[0].value["id"].tolist() == list(range(1, 51))
    at.button(key="browse_next").click().run()
    assert at.dataframe[0].value["id"].tolist()[0] == 51
    at.selectbox(key="browse_sort").set_value("length").run()
    at.toggle(key="browse_desc").set_value(True).run()
    lengths = at.dataframe[0].value["length"].tolist()
    assert lengths == sorted(lengths, reverse=True) and len(lengths) == 50
    assert "page 1 of" in count_line(at)  # a new order starts again at page 1


def test_edit_creates_a_revision(app_store: Store) -> None:
    at = open_row(5)
    at.text_area(key="browse_edit_5_output").input("A better answer.")
    at.multiselect(key="browse_edit_5_tags").select("math")
    save(at, 5)
    assert at.success[0].value == "Saved example #5 (now version 2)."
    history = revisions.history(app_store, 5)
    assert sorted(zip(history["field"], history["new_value"], strict=True)) == [
        ("output", "A better answer."),
        ("tag:math", "1"),
    ]
    assert set(history["author"]) == {"tester"}
    shown = at.dataframe[1].value
    assert set(shown["field"]) == {"output", "tag:math"}
    assert examples.get(app_store, 5)["output"] == "A better answer."


def test_conflict_shows_both_versions_and_keep_mine_saves(app_store: Store) -> None:
    at = open_row(7)
    revisions.update_example(app_store, 7, {"output": "Their answer."}, expected_version=1, author="other-tab")
    at.text_area(key="browse_edit_7_output").input("My answer.")
    save(at, 7)
    assert "Someone else saved example #7" in at.error[0].value
    codes = [c.value for c in at.code]
    assert "My answer." in codes and "Their answer." in codes
    assert examples.get(app_store, 7)["output"] == "Their answer."  # nothing overwritten yet
    at.button(key="browse_keep_mine").click().run()
    assert examples.get(app_store, 7)["output"] == "My answer."
    assert revisions.history(app_store, 7)["new_value"].tolist() == ["Their answer.", "My answer."]
    assert not at.error


def test_conflict_take_theirs_loads_the_current_version(app_store: Store) -> None:
    at = open_row(8)
    revisions.update_example(
        app_store, 8, {"instruction": "Their instruction."}, expected_version=1, author="other-tab"
    )
    at.text_area(key="browse_edit_8_instruction").input("My instruction.")
    save(at, 8)
    at.button(key="browse_take_theirs").click().run()
    assert at.text_area(key="browse_edit_8_instruction").value == "Their instruction."
    assert examples.get(app_store, 8)["instruction"] == "Their instruction."
    at.text_area(key="browse_edit_8_output").input("New output on top of theirs.")
    save(at, 8)
    assert examples.get(app_store, 8)["output"] == "New output on top of theirs."


def test_revert_and_review_buttons(app_store: Store) -> None:
    row_id = int(examples.page(app_store, ExampleFilter(statuses=["pending"]), limit=1)["id"].iloc[0])
    original = examples.get(app_store, row_id)["instruction"]
    at = open_row(row_id)
    at.text_area(key=f"browse_edit_{row_id}_instruction").input("Changed once.")
    save(at, row_id)
    at.button(key="browse_row_approve").click().run()
    assert examples.get(app_store, row_id)["status"] == "approved"
    at.button(key="browse_revert_original").click().run()
    # the revert would also discard the review decision: it asks first and changes nothing yet
    warning = next(w.value for w in at.warning if "discards the later changes of" in w.value)
    assert "review by tester \\(and 1 edit of your own\\)" in warning and "edit by tester" not in warning
    labels = {b.key: b.label for b in at.button}
    assert labels["browse_revert"].startswith("Restore revision #") and labels["browse_revert_original"] == (
        "Restore the original"
    )
    assert examples.get(app_store, row_id)["status"] == "approved"
    at.button(key="browse_revert_force").click().run()
    row = examples.get(app_store, row_id)
    assert (row["instruction"], row["status"]) == (original, "pending")
    assert "reverted to its original" in at.success[0].value


def test_saving_a_row_opened_before_a_cot_run_keeps_its_auto_tag(app_store: Store) -> None:
    from curation.cot import tagging as cot_tagging

    row_id = int(examples.page(app_store, ExampleFilter(search="answer is"), limit=1)["id"].iloc[0])
    revisions.update_example(
        app_store, row_id, {"tags": []}, expected_version=examples.get(app_store, row_id)["version"], author="x"
    )
    at = open_row(row_id)  # no cot tag when the editor loads
    cot_tagging.tag_rows(app_store, threshold=0.3)
    assert examples.get(app_store, row_id)["tags"] == ["cot"]
    at.text_area(key=f"browse_edit_{row_id}_output").input("Edited output. So the answer is 4.")
    save(at, row_id)
    assert app_store.query_rows("SELECT source FROM example_tags WHERE example_id = ?", [row_id]) == [("auto",)]
    assert examples.get(app_store, row_id)["output"] == "Edited output. So the answer is 4."


def test_history_renders_for_rows_touched_by_dedup_and_cot(app_store: Store) -> None:
    from curation.cot import tagging as cot_tagging

    row_id = int(examples.page(app_store, ExampleFilter(statuses=["pending"]), limit=1)["id"].iloc[0])
    revisions.set_status(app_store, "duplicate", author="d", ids=[row_id], kind="dedup", reason="dedup run 1")
    revisions.undo_action(app_store, int(revisions.list_actions(app_store)["id"].iloc[0]), author="d")
    cot_tagging.set_manual(app_store, False, author="c", ids=[row_id])
    at = open_row(row_id)
    history = at.dataframe[1].value
    assert list(history["action"]) == ["dedup", "dedup", "undo", "undo", "cot-manual"]


def test_markup_in_data_is_shown_as_text(app_store: Store) -> None:
    markup_id = int(examples.page(app_store, ExampleFilter(search="<script>"), limit=1)["id"].iloc[0])
    at = open_row(markup_id)
    assert "<script>" in at.text_area(key=f"browse_edit_{markup_id}_instruction").value
    assert not any("<script>" in m.value for m in at.markdown)


def test_a_row_opened_from_the_url_is_on_the_shown_page_and_ticked(app_store: Store) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["row"] = "60"  # a reload or a shared link: /Browse?row=60 (rows 51-100 are page 2 of 50)
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key="browse_page").value == 2
    table = at.dataframe[0]
    assert table.value.columns.tolist() == ["id", "status", "instruction", "output"]  # Output in view beside the editor
    ticked = at.session_state["browse_table"]["selection"]["rows"]
    assert [table.value["id"].iloc[i] for i in ticked] == [60]
    at.button(key="browse_row_next").click().run()  # Next moves the tick along
    assert [at.dataframe[0].value["id"].iloc[i] for i in at.session_state["browse_table"]["selection"]["rows"]] == [61]


def test_position_follows_the_filter_and_sort(app_store: Store) -> None:
    flt = ExampleFilter(search="capital")
    ids = examples.page(app_store, flt, sort="id", descending=True, limit=1000)["id"].tolist()
    assert [examples.position(app_store, i, flt, sort="id", descending=True) for i in ids] == list(range(len(ids)))
    outside = examples.page(app_store, ExampleFilter(search="sentiment"), limit=1)["id"].iloc[0]
    assert examples.position(app_store, int(outside), flt) is None


def test_the_table_is_dense_with_status_and_tags_first_and_no_raw_none(app_store: Store) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    table = at.dataframe[0]
    assert table.proto.row_height == 35  # one line per row
    assert list(table.value.columns[:5]) == ["id", "status", "tags", "instruction", "output"]
    assert not table.value["task"].isna().any()
    assert not table.value["output"].str.contains("\n").any()  # line breaks shown as ⏎ on one line
    at.toggle(key="browse_wrap").set_value(True).run()
    assert at.dataframe[0].proto.row_height == 72  # long texts: up to three wrapped lines
