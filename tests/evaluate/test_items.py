"""Item files are strict (line, field, rule), inline options are parsed, answers are extracted and normalised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finetune_support import make_snapshot, snapshot_rows

from curation.evaluate.answers import extract_answer, is_correct, normalise
from curation.evaluate.items import ItemError, items_from_snapshot, load_items, match_option, split_inline_options


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_gives_items_in_order(tmp_path) -> None:
    lines = [
        {"question": "Q1", "options": ["a", "b"], "answer": "b"},
        {"question": "Q2", "options": ["x", "y", "z"], "answer": 0, "slice": "s"},
        {"question": "Q3", "answer": "42"},
    ]
    items = load_items(_file(tmp_path, "\n".join(json.dumps(x) for x in lines) + "\n\n"))
    assert [(i.index, i.kind, i.answer_index, i.answer) for i in items] == [
        (0, "multiple_choice", 1, "b"),
        (1, "multiple_choice", 0, "x"),
        (2, "exact_match", None, "42"),
    ]
    assert items[1].slices == {"slice": "s"}
    assert items[0].user_turn() == "Q1\n\nOPTIONS:\n- a\n- b"
    assert items[2].user_turn() == "Q3"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "items.jsonl:2: not valid JSON"),
        ("[1]", "items.jsonl:2: each line must be a JSON object"),
        ('{"question": "", "answer": "a"}', "items.jsonl:2: field 'question' must be a non-empty string"),
        ('{"question": "q"}', "items.jsonl:2: field 'answer' must be a non-empty string"),
        ('{"question": "q", "answer": "a", "extra": 1}', "items.jsonl:2: unknown field 'extra'"),
        ('{"question": "q", "options": ["a"], "answer": "a"}', "field 'options' must be a list of at least 2"),
        ('{"question": "q", "options": ["a", "a"], "answer": "a"}', "field 'options' has the same option twice"),
        ('{"question": "q", "options": ["a", ""], "answer": "a"}', "field 'options' must hold non-empty strings"),
        ('{"question": "q", "options": ["a", "b"], "answer": "c"}', "field 'answer' 'c' is not one of the options"),
        ('{"question": "q", "options": ["a", "b"], "answer": 2}', "field 'answer' index 2 is outside 0..1"),
        ('{"question": "q", "options": ["a", "b"], "answer": true}', "field 'answer' must be one of the options"),
    ],
)
def test_a_bad_line_is_refused_naming_line_field_and_rule(tmp_path, line, message) -> None:
    path = _file(tmp_path, '{"question": "ok", "answer": "a"}\n' + line + "\n")
    with pytest.raises(ItemError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_items(path)


def test_an_empty_file_is_refused(tmp_path) -> None:
    with pytest.raises(ItemError, match="no items"):
        load_items(_file(tmp_path, "\n"))


def test_inline_options_are_split_and_answers_matched_by_text_or_letter() -> None:
    q = "What comes from reproduction?\nOptions:\n- (A) babies\n- (B) protein\n- (C) children"
    assert split_inline_options(q) == ("What comes from reproduction?", ["(A) babies", "(B) protein", "(C) children"])
    assert match_option("(C)", ["(A) babies", "(B) protein", "(C) children"]) == 2
    assert match_option("protein", ["(A) babies", "(B) protein", "(C) children"]) == 1
    assert match_option("Bedroom.", ["dimly lit room", "bedroom"]) == 1
    assert match_option("kitchen", ["dimly lit room", "bedroom"]) is None
    assert split_inline_options("No options here") is None


def test_a_snapshot_heldout_split_gives_mc_items_where_options_are_inline(tmp_path) -> None:
    heldout = snapshot_rows(
        [
            ("Where do you sleep?\nOptions:\n- kitchen\n- bedroom", "People sleep in beds. So the answer is bedroom."),
            ("What is 6 * 7?", "6 * 7 = 42. #### 42"),
        ],
        start=10,
    )
    snap = make_snapshot(tmp_path, heldout.head(1), heldout)
    items = items_from_snapshot(snap)
    assert [(i.kind, i.answer_index, i.append_options) for i in items] == [
        ("multiple_choice", 1, False),
        ("exact_match", None, True),
    ]
    assert items[0].user_turn() == "Where do you sleep?\nOptions:\n- kitchen\n- bedroom"  # as given
    assert items[0].slices == {"source": "src", "task_cluster": "facts"}
    assert items[1].id == "11"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Step one. So the answer is Paris.", "Paris."),
        ("x = 3\n#### 1,234", "1,234"),
        ("so \\boxed{\\frac{1}{2}} done", "\\frac{1}{2}"),
        ("The answer is: yes", "yes"),
        ("no marker", "no marker"),
    ],
)
def test_final_answers_are_extracted(reply, expected) -> None:
    assert extract_answer(reply) == expected


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("Paris.", "paris", True), ("$1,234", "1234", True), ("18.0", "18", True), ("0.5", ".5", False),
     ("yes", "no", False), ("  New   York ", "new york", True)],
)  # fmt: skip
def test_normalised_answers_compare(a, b, same) -> None:
    assert (normalise(a) == normalise(b)) is same
    assert is_correct(f"So the answer is {a}", b) is same
