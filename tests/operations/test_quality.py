"""Quality heuristics: rule values worked out by hand, gating for short answers, hostile rows, params, decisions."""

from __future__ import annotations

import pytest

from curation.operations import base
from curation.operations.quality import RULES, Quality

OP = Quality()
ALL_ON = 20  # rules with a default threshold (bullet, curly bracket, line punctuation, short lines are off)
UNGATED = 4  # min/max words, lorem ipsum, longest word: checked whatever the length


def _one(row: base.RowText, **given) -> base.Signal:
    return OP.score([row], OP.params(given))[0]


@pytest.mark.parametrize(
    ("output", "given", "failed", "checked"),
    [
        ("", {}, {"gopher_min_words": 0}, UNGATED),
        ("Lorem ipsum dolor sit amet.", {}, {"c4_lorem_ipsum": 1.0}, UNGATED),  # 5 words: ratio rules skipped
        # 6 words, one '#': 1/6 per word > 0.1; stop words 'the', 'and'; mean word length 19/6
        ("the cat and the dog #tag", {"min_words": 1}, {"gopher_hash_ratio": 0.1667}, ALL_ON),
        (
            "go home now\ngo home now\ngo home now",  # 35 characters, 9 words, 3 lines of 11 characters
            {"min_words": 1},
            {
                "gopher_stop_words": 0,
                "gopher_dup_lines": 0.6667,  # 2 of 3 lines repeat one before
                "gopher_dup_line_chars": 0.6286,  # 22 / 35
                "gopher_top_2gram": 0.5143,  # "gohome" x 3 = 18 / 35
                "gopher_top_3gram": 0.7714,  # "gohomenow" x 3 = 27 / 35
                "gopher_top_4gram": 0.6286,  # "gohomenowgo" x 2 = 22 / 35
                "gopher_dup_5gram": 0.4286,  # the 4th 5-gram repeats the 1st: 15 / 35
                "fineweb_dup_line_chars": 0.6286,
            },
            ALL_ON,
        ),
        ("The answer is 42.", {}, {}, UNGATED),
        ("a" * 1001, {}, {"c4_max_word_length": 1001}, UNGATED),
    ],
)
def test_rules_fail_with_the_values_worked_out_by_hand(output: str, given: dict, failed: dict, checked: int) -> None:
    signal = _one(base.RowText(1, 1, "Say something.", output=output), **given)
    assert signal.evidence == {"failed": failed, "checked": checked}
    assert signal.score == pytest.approx(1 - len(failed) / checked)
    assert signal.label == (next(iter(failed)) if failed else "ok")


def test_thresholds_turn_rules_on_and_off() -> None:
    row = base.RowText(1, 1, "List.", output="- one\n- two\n- three")
    assert _one(row, min_words=1, thresholds={"gopher_bullet_lines": 0.9}).evidence["failed"] == {
        "gopher_bullet_lines": 1.0,
        "gopher_alpha_words": 0.5,  # the three "-" hold no letter: 3 of 6 words
        "gopher_stop_words": 0,
        "fineweb_list_ratio": 0.3333,  # 2 newlines / 6 words
    }
    off = {rule: None for rule in RULES}
    assert _one(row, thresholds=off).evidence == {"failed": {}, "checked": 0}


@pytest.mark.parametrize(
    ("row", "label"),
    [
        (
            base.RowText(
                1, 1, "", messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Lorem ipsum"}]
            ),
            "c4_lorem_ipsum",
        ),
        (base.RowText(2, 1, "", messages=[{"role": "user", "content": "hi"}]), "gopher_min_words"),
        (base.RowText(3, 1, "Capital?", output="東京は日本の首都です。"), "ok"),  # one whitespace word: ratios skipped
        (base.RowText(4, 1, "Repeat.", output="word " * 200_000), "gopher_max_words"),
    ],
)
def test_hostile_rows(row: base.RowText, label: str) -> None:
    assert _one(row).label == label


def test_fields_choose_what_is_judged() -> None:
    row = base.RowText(1, 1, "Lorem ipsum instruction", output="A fine answer.")
    assert _one(row).label == "ok"
    assert _one(row, fields=["instruction", "output"]).label == "c4_lorem_ipsum"


def test_decide_rejects_below_min_score_or_on_named_rules() -> None:
    signals = [
        base.Signal(1, 0.95, "gopher_hash_ratio", {"failed": {"gopher_hash_ratio": 0.2}, "checked": 20}),
        base.Signal(2, 0.6, "gopher_stop_words", {"failed": {"gopher_stop_words": 0, "gopher_dup_lines": 0.5}}),
        base.Signal(3, 0.75, "gopher_min_words", {"failed": {"gopher_min_words": 0}, "checked": 4}),
        base.Signal(4, 1.0, "ok", {"failed": {}, "checked": 20}),
    ]
    decided = OP.decide(signals, OP.params())
    assert [(d.id, d.status) for d in decided] == [(2, "rejected"), (3, "rejected")]
    assert decided[0].reason == "quality 0.60: gopher_stop_words=0, gopher_dup_lines=0.5"
    assert decided[1].reason == "quality 0.75: gopher_min_words=0"
    named = OP.decide(signals, OP.params({"min_score": 0.0, "reject_on": ["gopher_hash_ratio"]}))
    assert [d.id for d in named] == [1]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"fields": []}, "fields must be a non-empty list"),
        ({"fields": ["answer"]}, "fields must be a non-empty list"),
        ({"min_words": 0}, "min_words must be >= 1; got 0"),
        ({"thresholds": {"nope": 1}}, "thresholds must map rule names"),
        ({"thresholds": {"gopher_hash_ratio": "high"}}, "each threshold must be a number or null"),
        ({"min_score": -0.1}, r"min_score must be in \[0, 1\]; got -0.1"),
        ({"reject_on": ["nope"]}, "reject_on must list rule names"),
    ],
)
def test_bad_parameters_are_refused_with_the_rule(given: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OP.params(given)
