"""Reasoning-trace quality: each problem on a hand-written trace, hostile rows, parameters refused, decisions."""

from __future__ import annotations

import pytest

from curation.operations import base
from curation.operations.trace import TraceQuality, back_to_back

OP = TraceQuality()
LOOP = "I need to check the total again. " * 6  # 7 words, six times back to back: 42 words


def _one(output: str, **given) -> base.Signal:
    return OP.score([base.RowText(1, 1, "Question?", output=output)], OP.params(given))[0]


@pytest.mark.parametrize(
    ("output", "given", "label", "problems"),
    [
        ("<think>\n12 + 30 = 42, so the answer is 42.\n</think>\n\n42", {}, "ok", {}),
        (
            "<think>\nTom has 3 apples and buys 4 more. 3 + 4 = 7. So the answer is 7.\n</think>\n\n8",
            {},
            "answer_conflict",
            {"answer_conflict": {"answer": "8", "rationale_concludes": "7"}},
        ),
        (
            "<think>\nLet me count the letters in strawberry: s, t, r",
            {},
            "think_unclosed",
            {"think_unclosed": {"opened": 1, "closed": 0}},
        ),
        ("<think>\nThe capital of France is Paris.\n</think>\n", {}, "no_answer", {"no_answer": {"after_think": ""}}),
        ("<think>\n\n</think>\n\nParis", {}, "empty_rationale", {"empty_rationale": {"words": 0}}),
        (
            f"<think>\n{LOOP}\n</think>\n\n42",
            {},
            "loop",
            {"loop": {"block": "I need to check the total again.", "period": 7, "repeats": 6}},
        ),
        (
            "<think>\none two three four five six seven eight nine ten\n</think>\n\n10",
            {"max_rationale_words": 5},
            "overlong",
            {"overlong": {"words": 10, "max": 5}},
        ),
        ("<think>\n三加四等于七。\n</think>\n\n七", {}, "ok", {}),
    ],
)
def test_problems_found_in_hand_written_traces(output: str, given: dict, label: str, problems: dict) -> None:
    signal = _one(output, **given)
    assert (signal.label, signal.evidence["problems"]) == (label, problems)


def test_score_is_the_rationale_length_and_none_without_a_trace() -> None:
    assert _one("<think>\n12 + 30 = 42, so the answer is 42.\n</think>\n\n42").score == 10.0
    plain = _one("Paris is the capital of France.")
    assert (plain.label, plain.score, plain.evidence) == ("no_trace", None, {"problems": {}})


def test_a_loop_in_an_answer_without_reasoning_is_still_found() -> None:
    signal = _one(LOOP)
    assert signal.label == "loop"
    assert signal.evidence["problems"]["loop"]["repeats"] == 6


def test_structured_repetition_with_changes_is_not_a_loop() -> None:
    steps = " ".join(f"Step {i}: the stack is now {'( ' * i}and we read the next symbol." for i in range(1, 12))
    assert _one(f"<think>\n{steps}\n</think>\n\nYes").label == "ok"


def test_messages_only_row_reads_the_final_turn_and_its_reasoning_content() -> None:
    turns = [
        {"role": "user", "content": "Tom has 3 apples and buys 4 more. How many?"},
        {"role": "assistant", "content": "8", "reasoning_content": "3 + 4 = 7. So the answer is 7."},
    ]
    [signal] = OP.score([base.RowText(5, 1, "", messages=turns)], OP.params())
    assert signal.evidence["problems"] == {"answer_conflict": {"answer": "8", "rationale_concludes": "7"}}


def test_huge_and_empty_rows() -> None:
    huge = _one("<think>\n" + "word " * 100_000 + "</think>\n\nok")
    assert list(huge.evidence["problems"]) == ["loop", "overlong"]
    assert huge.evidence["problems"]["loop"] == {"block": "word", "period": 1, "repeats": 100_000}
    assert _one("").label == "no_trace"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["a", "b", "a", "b", "a", "b"], (6, 2, 0)),
        (["x", "a", "b", "c", "a", "b", "c", "y"], (6, 3, 1)),
        (["a", "b", "c", "d"], (0, 0, 0)),
    ],
)
def test_back_to_back_finds_the_longest_repeated_stretch(words: list[str], expected: tuple[int, int, int]) -> None:
    assert back_to_back(words, 10) == expected


def test_decide_tags_or_rejects_the_chosen_problems() -> None:
    signals = [
        base.Signal(1, 42.0, "loop", {"problems": {"loop": {}, "overlong": {}}}),
        base.Signal(2, 10.0, "ok", {"problems": {}}),
        base.Signal(3, None, "no_trace", {"problems": {}}),
        base.Signal(4, 3.0, "answer_conflict", {"problems": {"answer_conflict": {}}}),
    ]
    tagged = OP.decide(signals, OP.params())
    assert [(d.id, d.add_tags, d.status) for d in tagged] == [
        (1, ("trace:loop", "trace:overlong"), None),
        (4, ("trace:answer_conflict",), None),
    ]
    assert tagged[0].reason == "trace: loop, overlong"
    rejected = OP.decide(signals, OP.params({"action": "reject", "problems": ["answer_conflict"]}))
    assert [(d.id, d.status, d.add_tags) for d in rejected] == [(4, "rejected", ())]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"loop_max_period": 0}, "loop_max_period must be >= 1; got 0"),
        ({"loop_min_repeats": 1}, "loop_min_repeats must be >= 2; got 1"),
        ({"max_rationale_words": 0}, "max_rationale_words must be >= 1; got 0"),
        ({"action": "delete"}, "action must be one of"),
        ({"problems": []}, "problems must be a non-empty list"),
        ({"problems": ["typo"]}, "problems must be a non-empty list"),
    ],
)
def test_bad_parameters_are_refused_with_the_rule(given: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OP.params(given)
