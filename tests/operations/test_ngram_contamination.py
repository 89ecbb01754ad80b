"""N-gram contamination: hand-counted 13-gram overlaps with an eval file, caching, hostile rows, params, decisions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from curation.operations import base
from curation.operations.ngram_contamination import NgramContamination

OP = NgramContamination()
QUESTION = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips to her friends in May. "
    "How many clips did Natalia sell altogether in April and May?"
)


@pytest.fixture
def eval_file(tmp_path: Path) -> str:
    path = tmp_path / "gsm8k_test.jsonl"
    items = [
        {"id": "q1", "question": QUESTION, "answer": "72"},
        {"question": "Ответь на вопрос: какая столица у Франции и сколько в ней жителей?", "answer": "Париж"},
    ]
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n", encoding="utf-8")
    return str(path)


def test_rows_sharing_13_grams_are_scored_by_the_share_found(eval_file: str) -> None:
    rows = [
        # 18 words, all from the question: 6 distinct 13-grams, all found
        base.RowText(1, 1, "NATALIA sold clips to 48 of her friends in April -- and then she sold half as many clips"),
        # 17 words in the output: 5 13-grams, only "natalia ... she" is in the eval item; 3-word instruction has none
        base.RowText(
            2,
            1,
            "Write a poem.",
            output="Yesterday Natalia sold clips to 48 of her friends in April and then she went home happy",
        ),
        base.RowText(3, 1, "How many clips did Natalia sell?"),
    ]
    signals = OP.score(rows, OP.params({"eval_files": [eval_file]}))
    assert [(s.label, s.score) for s in signals] == [("contaminated", 1.0), ("contaminated", 0.2), ("clean", 0.0)]
    assert signals[0].evidence == {
        "ngrams": 6,
        "matched": 6,
        "ngram": "48 of her friends in april and then she sold half as many",
        "eval_file": "gsm8k_test.jsonl",
        "eval_item": "q1",
    }
    assert signals[1].evidence["ngram"] == "natalia sold clips to 48 of her friends in april and then she"
    assert signals[2].evidence == {"ngrams": 0, "matched": 0}


def test_messages_only_rows_non_latin_text_and_eval_items_without_id(eval_file: str) -> None:
    turns = [{"role": "user", "content": "какая столица у Франции и сколько в ней жителей"}]
    rows = [base.RowText(1, 1, "", messages=turns), base.RowText(2, 1, "")]
    signals = OP.score(rows, OP.params({"eval_files": [eval_file], "n": 5}))
    assert (signals[0].label, signals[0].evidence["eval_item"], signals[0].evidence["ngrams"]) == (
        "contaminated",
        "line 2",
        5,  # 9 words, 5 distinct 5-grams
    )
    assert (signals[1].label, signals[1].score) == ("clean", 0.0)


def test_json_list_files_and_several_files_name_the_variant(eval_file: str, tmp_path: Path) -> None:
    other = tmp_path / "mmlu.json"
    other.write_text(json.dumps([{"prompt": "alpha beta gamma delta"}, "epsilon zeta eta theta"]), encoding="utf-8")
    params = OP.params({"eval_files": [eval_file, str(other)], "n": 4})
    assert OP.variant(params) == "gsm8k_test.jsonl+mmlu.json"
    row = base.RowText(1, 1, "Say: Epsilon, zeta, eta, theta!")  # 5 words: 2 4-grams, the second is item 1
    [signal] = OP.score([row], params)
    assert (signal.evidence["eval_file"], signal.evidence["eval_item"], signal.score) == ("mmlu.json", "1", 0.5)


def test_an_edited_eval_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"text": "one two three"}) + "\n", encoding="utf-8")
    params = OP.params({"eval_files": [str(path)], "n": 3})
    row = base.RowText(1, 1, "four five six")
    assert OP.score([row], params)[0].label == "clean"
    path.write_text(json.dumps({"text": "four five six"}) + "\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    assert OP.score([row], params)[0].label == "contaminated"


def test_huge_row_is_scored(eval_file: str) -> None:
    row = base.RowText(1, 1, "filler words here " * 30_000 + QUESTION)
    [signal] = OP.score([row], OP.params({"eval_files": [eval_file]}))
    assert signal.label == "contaminated"
    assert signal.evidence["matched"] == 22  # the question's 34 words give 22 13-grams


def test_malformed_eval_files_are_refused_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "fine"}\n{not json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"^bad.jsonl line 2: not valid JSON"):
        OP.score([base.RowText(1, 1, "x")], OP.params({"eval_files": [str(bad)]}))
    obj = tmp_path / "obj.json"
    obj.write_text('{"question": "fine"}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"obj\.json: a JSON eval file must hold a list of objects"):
        OP.score([base.RowText(1, 1, "x")], OP.params({"eval_files": [str(obj)]}))


def test_decide_rejects_or_tags_hits_over_min_overlap(eval_file: str) -> None:
    hit = {"matched": 6, "eval_file": "gsm8k_test.jsonl", "eval_item": "q1"}
    signals = [
        base.Signal(1, 1.0, "contaminated", hit),
        base.Signal(2, 0.2, "contaminated", {**hit, "matched": 1}),
        base.Signal(3, 0.0, "clean", {"matched": 0}),
    ]
    rejected = OP.decide(signals, OP.params({"eval_files": [eval_file]}))
    assert [(d.id, d.status) for d in rejected] == [(1, "rejected"), (2, "rejected")]
    assert rejected[0].reason == "6 shared 13-gram(s) (100%) with gsm8k_test.jsonl item q1"
    tagged = OP.decide(signals, OP.params({"eval_files": [eval_file], "min_overlap": 0.5, "action": "tag"}))
    assert [(d.id, d.add_tags, d.status) for d in tagged] == [(1, ("contaminated:gsm8k_test.jsonl",), None)]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"eval_files": []}, "eval_files must list at least one .json or .jsonl eval file"),
        ({"eval_files": "x.jsonl"}, "eval_files must list at least one"),
        ({"eval_files": ["missing.jsonl"]}, "eval file 'missing.jsonl' must be an existing .json or .jsonl file"),
        ({"n": 0}, r"n must be in \[1, 50\]; got 0"),
        ({"min_overlap": 2}, r"min_overlap must be in \[0, 1\]; got 2"),
        ({"eval_fields": []}, "eval_fields must be a non-empty list"),
        ({"action": "drop"}, "action must be one of"),
    ],
)
def test_bad_parameters_are_refused_with_the_rule(eval_file: str, given: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OP.params({"eval_files": [eval_file], **given})


def test_eval_files_are_required() -> None:
    with pytest.raises(ValueError, match="eval_files must list at least one"):
        OP.params()


def test_nested_eval_fields_are_read(tmp_path: Path) -> None:
    path = tmp_path / "arc.jsonl"
    items = [
        {"id": "arc-1", "question": {"stem": "alpha beta gamma", "choices": [{"text": "delta epsilon zeta"}]}},
        {"id": "si-1", "instances": [{"input": "", "output": "eta theta iota"}], "other": "kappa lambda mu"},
    ]
    path.write_text("\n".join(json.dumps(i) for i in items), encoding="utf-8")
    params = OP.params({"eval_files": [str(path)], "n": 3})
    texts = ["Delta epsilon zeta", "eta theta iota", "kappa lambda mu"]
    rows = [base.RowText(i, 1, text) for i, text in enumerate(texts)]
    assert [(s.label, s.evidence.get("eval_item")) for s in OP.score(rows, params)] == [
        ("contaminated", "arc-1"),
        ("contaminated", "si-1"),
        ("clean", None),  # "other" is not an eval field
    ]
