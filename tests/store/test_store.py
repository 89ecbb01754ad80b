"""Store: migrations, revisions for every change, revert, conflicts, undo, and filter/page/count correctness."""

from __future__ import annotations

import pandas as pd
import pytest

from curation.filters import ExampleFilter
from curation.store import ConflictError, Store, examples, revisions

ROWS = [
    {"instruction": "Add 2 and 3.", "output": "5", "origin": "templated", "task": "addition", "tags": ["math"]},
    {"instruction": "Give 100% effort", "output": "ok", "origin": "imported", "status": "approved"},
    {"instruction": "Name a snake_case variable", "output": "my_var", "origin": "seed", "tags": ["code"]},
    {"instruction": "Give 100 percent", "input": "effort", "output": "fine", "origin": "generated"},
    {"instruction": "What is a backslash \\ for?", "output": "escaping", "status": "rejected", "tags": ["code"]},
    {"instruction": "Say hi", "output": "hi " * 40, "origin": "imported", "status": "approved", "tags": ["math"]},
]


def ids_of(store: Store, flt: ExampleFilter) -> list[int]:
    return examples.page(store, flt, limit=100)["id"].tolist()


def test_migrations_are_recorded_and_idempotent_on_reopen(tmp_path) -> None:
    path = tmp_path / "db.duckdb"
    first = Store(path)
    applied = first.applied_migrations()
    assert applied and applied[0] == "0001_foundation"
    examples.add_examples(first, pd.DataFrame([{"instruction": "keep me"}]), examples.SourceInfo("s", "test"))
    first.close()
    again = Store(path)
    assert again.migrate() == []
    assert again.applied_migrations() == applied
    assert examples.count(again) == 1
    again.close()


def test_every_edit_writes_revisions_with_author_and_action(make_store) -> None:
    store = make_store(ROWS)
    new_version = revisions.update_example(
        store,
        1,
        {"instruction": "Add 2 and 4.", "output": "6", "tags": ["math", "easy"]},
        expected_version=1,
        author="ann",
    )
    assert new_version == 2
    hist = revisions.history(store, 1)
    assert sorted(zip(hist["field"], hist["old_value"], hist["new_value"], strict=True)) == [
        ("instruction", "Add 2 and 3.", "Add 2 and 4."),
        ("output", "5", "6"),
        ("tag:easy", "0", "1"),
    ]
    assert set(hist["author"]) == {"ann"} and set(hist["action"]) == {"edit"}
    assert hist["action_id"].nunique() == 1
    row = examples.get(store, 1)
    assert (row["instruction"], row["orig_instruction"], row["tags"]) == (
        "Add 2 and 4.",
        "Add 2 and 3.",
        ["easy", "math"],
    )


def test_unchanged_save_records_nothing(make_store) -> None:
    store = make_store(ROWS)
    assert revisions.update_example(store, 1, {"output": "5"}, expected_version=1, author="ann") == 1
    assert revisions.history(store, 1).empty
    assert revisions.list_actions(store).empty


def test_review_decisions_are_revisions(make_store) -> None:
    store = make_store(ROWS)
    result = revisions.set_status(store, "approved", author="rev", ids=[1, 3], reason="looks right")
    assert (result.rows, result.revisions) == (2, 4)
    hist = revisions.history(store, 3)
    assert sorted(zip(hist["field"], hist["new_value"], strict=True)) == [
        ("status", "approved"),
        ("status_reason", "looks right"),
    ]
    assert set(hist["action"]) == {"review"}


def test_revert_restores_exact_text(make_store) -> None:
    store = make_store(ROWS)
    texts = ["  first edit  \n", "second — edit with ünïcode\ttab", "third"]
    version = 1
    for text in texts:
        version = revisions.update_example(store, 2, {"instruction": text}, expected_version=version, author="a")
    first_rev = int(revisions.history(store, 2)["revision_id"].iloc[0])
    version = revisions.revert_to(store, 2, first_rev, expected_version=version, author="a")
    assert examples.get(store, 2)["instruction"] == "  first edit  \n"
    revisions.revert_to(store, 2, 0, expected_version=version, author="a")
    row = examples.get(store, 2)
    assert row["instruction"] == "Give 100% effort" == row["orig_instruction"]
    assert revisions.history(store, 2)["action"].tolist()[-2:] == ["revert", "revert"]


def test_second_save_on_a_stale_version_conflicts_and_loses_nothing(make_store) -> None:
    store = make_store(ROWS)
    loaded = examples.get(store, 1)["version"]
    revisions.update_example(store, 1, {"output": "five"}, expected_version=loaded, author="tab1")
    with pytest.raises(ConflictError) as err:
        revisions.update_example(store, 1, {"output": "FIVE"}, expected_version=loaded, author="tab2")
    assert err.value.current["output"] == "five" and err.value.current["version"] == loaded + 1
    assert examples.get(store, 1)["output"] == "five"
    revisions.update_example(store, 1, {"output": "FIVE"}, expected_version=err.value.current["version"], author="tab2")
    assert revisions.history(store, 1)["new_value"].tolist() == ["five", "FIVE"]


def test_undo_of_bulk_action_restores_statuses_exactly(make_store) -> None:
    store = make_store(ROWS)
    before = examples.fetch(store, columns=("id", "status", "status_reason"))
    result = revisions.set_status(store, "approved", author="r", flt=ExampleFilter(), reason="bulk")
    assert (result.rows, result.revisions) == (6, 10)  # 4 status changes (2 were approved) + 6 reasons
    assert examples.counts_by(store, "status").to_dict("records") == [{"value": "approved", "count": 6}]
    revisions.undo_action(store, result.action_id, author="r")
    after = examples.fetch(store, columns=("id", "status", "status_reason"))
    pd.testing.assert_frame_equal(before, after)
    with pytest.raises(ValueError, match="already undone"):
        revisions.undo_action(store, result.action_id, author="r")


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (ExampleFilter(), [1, 2, 3, 4, 5, 6]),
        (ExampleFilter(search="100%"), [2]),
        (ExampleFilter(search="snake_case"), [3]),
        (ExampleFilter(search="e_c"), [3]),
        (ExampleFilter(search="\\"), [5]),
        (ExampleFilter(search="EFFORT"), [2, 4]),
        (ExampleFilter(tags=["code"]), [3, 5]),
        (ExampleFilter(tags=["math", "code"]), [1, 3, 5, 6]),
        (ExampleFilter(untagged=["code"]), [1, 2, 4, 6]),
        (ExampleFilter(statuses=["approved"]), [2, 6]),
        (ExampleFilter(origins=["seed", "generated"]), [3, 4]),
        (ExampleFilter(tasks=["addition"]), [1]),
        (ExampleFilter(sources=["test"]), [1, 2, 3, 4, 5, 6]),
        (ExampleFilter(sources=["other"]), []),
        (ExampleFilter(min_length=100), [6]),
        (ExampleFilter(max_length=18), [1, 2]),
        (ExampleFilter(max_length=17), [1]),
        (ExampleFilter(length_field="input", min_length=1), [4]),
        (ExampleFilter(search="give", statuses=["pending"]), [4]),
    ],
)
def test_filters_count_and_page_agree(make_store, flt: ExampleFilter, expected: list[int]) -> None:
    store = make_store(ROWS)
    assert ids_of(store, flt) == expected
    assert examples.count(store, flt) == len(expected)


def test_page_sorts_and_pages_server_side(make_store) -> None:
    store = make_store(ROWS)
    by_length = examples.page(store, sort="length", descending=True, limit=2)
    assert by_length["id"].tolist() == [6, 5]
    assert by_length["length"].tolist()[0] == len("Say hi") + len("hi " * 40)
    pages = [examples.page(store, limit=4, offset=o)["id"].tolist() for o in (0, 4, 8)]
    assert pages == [[1, 2, 3, 4], [5, 6], []]
    tagged = examples.page(store, ExampleFilter(ids=[1]), limit=1)
    assert tagged.loc[0, "tags"] == "math" and tagged.loc[0, "source"] == "test"
    with pytest.raises(ValueError, match="sort must be one of"):
        examples.page(store, sort="id; DROP TABLE examples")


def test_counts_and_histogram_follow_the_filter(make_store) -> None:
    store = make_store(ROWS)
    assert examples.counts_by(store, "tag").to_dict("records") == [
        {"value": "code", "count": 2},
        {"value": "math", "count": 2},
    ]
    hist = examples.length_histogram(store, bins=5, flt=ExampleFilter(statuses=["approved"]))
    assert int(hist["count"].sum()) == 2


def test_duplicate_rows_grows_the_store_with_valid_copies(make_store) -> None:
    store = make_store(ROWS)
    assert examples.duplicate_rows(store, 20) == 14
    assert examples.duplicate_rows(store, 10) == 0
    frame = examples.fetch(store)
    assert len(frame) == 20 and frame["id"].tolist() == list(range(1, 21))
    assert set(frame["status"]) <= {"pending", "approved", "rejected", "duplicate"}
    assert (frame["instruction"] == frame["orig_instruction"]).all()
    assert frame.loc[6:, "instruction"].tolist()[:6] == [r["instruction"] for r in ROWS]
    assert examples.list_sources(store)["row_count"].tolist() == [6, 14]
    examples.add_examples(store, pd.DataFrame([{"instruction": "after"}]), examples.SourceInfo("s", "test"))
    assert examples.get(store, 21)["instruction"] == "after"
