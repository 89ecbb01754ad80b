"""Reasoning formats: rationale/answer discovery, the three export targets byte-exact, answer consistency."""

from __future__ import annotations

import json

import pytest

from curation.cot import formats
from curation.io import importers

# One row of each reasoning shape, as the importers store them.
FLAN_ROW = {  # FLAN CoT TSV: output = rationale + answer sentence, fields kept in meta
    "instruction": "Is 91 prime?",
    "input": "",
    "output": "91 = 7 * 13, so it has divisors other than 1 and itself. So the answer is no.",
    "meta": {"rationale": "91 = 7 * 13, so it has divisors other than 1 and itself.", "answer": "no"},
    "messages": None,
}
REASONING_CONTENT_ROW = {  # messages with reasoning_content: output = the visible answer
    "instruction": "What is 17 * 3?",
    "input": "",
    "output": "51",
    "meta": {"rationale": "17 * 3 = 30 + 21 = 51.", "answer": "51"},
    "messages": [
        {"role": "user", "content": "What is 17 * 3?"},
        {"role": "assistant", "content": "51", "reasoning_content": "17 * 3 = 30 + 21 = 51."},
    ],
}
THINK_ROW = {  # <think> block in the output
    "instruction": "How many r's in 'strawberry'?",
    "input": "",
    "output": "<think>\ns-t-r-a-w-b-e-r-r-y has r at 3, 8 and 9.\n</think>\n\nThree.",
    "meta": None,
    "messages": None,
}
EXPECTED = {
    ("flan", "cot"): "91 = 7 * 13, so it has divisors other than 1 and itself. So the answer is no.",
    ("flan", "direct"): "no",
    ("flan", "think"): "<think>\n91 = 7 * 13, so it has divisors other than 1 and itself.\n</think>\n\nno",
    ("rc", "cot"): "17 * 3 = 30 + 21 = 51. So the answer is 51.",
    ("rc", "direct"): "51",
    ("rc", "think"): "<think>\n17 * 3 = 30 + 21 = 51.\n</think>\n\n51",
    ("think", "cot"): "s-t-r-a-w-b-e-r-r-y has r at 3, 8 and 9. So the answer is Three.",
    ("think", "direct"): "Three.",
    ("think", "think"): "<think>\ns-t-r-a-w-b-e-r-r-y has r at 3, 8 and 9.\n</think>\n\nThree.",
}
ROWS = {"flan": FLAN_ROW, "rc": REASONING_CONTENT_ROW, "think": THINK_ROW}


@pytest.mark.parametrize(("shape", "target"), list(EXPECTED))
def test_three_targets_byte_exact(shape: str, target: str) -> None:
    text, _, converted = formats.convert_row(ROWS[shape], target)
    assert converted and text.encode("utf-8") == EXPECTED[shape, target].encode("utf-8")


def test_think_target_gives_the_messages_shape_with_reasoning_content() -> None:
    _, turns, _ = formats.convert_row(FLAN_ROW, "think")
    assert turns == [
        {"role": "user", "content": "Is 91 prime?"},
        {
            "role": "assistant",
            "content": "no",
            "reasoning_content": "91 = 7 * 13, so it has divisors other than 1 and itself.",
        },
    ]
    _, turns, _ = formats.convert_row(REASONING_CONTENT_ROW, "direct")
    assert turns[-1] == {"role": "assistant", "content": "51"}  # the conversation's reply is rewritten too


def test_rows_without_a_separable_rationale_are_left_unchanged() -> None:
    row = {
        "instruction": "Describe a pond.",
        "output": "An old pond where a frog jumps into still water.",
        "meta": None,
    }
    assert formats.convert_row(row, "direct") == (row["output"], None, False)
    edited = dict(FLAN_ROW, output="No.")  # edited after import: the stale meta fields are not used
    assert formats.reasoning_of(edited["output"], edited["meta"]) is None
    with pytest.raises(ValueError, match="cot', 'direct', 'think"):
        formats.convert_row(FLAN_ROW, "both")


@pytest.mark.parametrize(
    ("rationale", "answer", "conflict"),
    [
        ("3 + 4 = 7. So the answer is 7.", "8", "7"),
        ("3 + 4 = 7. So the answer is 7.", "7", None),
        ("Let x be his age; x = 10. Therefore, John is 10 years old.", "10", None),
        ("(A) and (C) are fish. So the answer is (B).", "(C)", "(B)"),
        ("The price is 1,200 dollars. The answer is $1,200.", "1200", None),
        ("No conclusion is drawn in this text at all, only facts about the weather", "yes", None),
    ],
)
def test_answer_conflict(rationale: str, answer: str, conflict: str | None) -> None:
    assert formats.answer_conflict(rationale, answer) == conflict


def test_check_rows_flags_conflicts_only_where_rationale_and_answer_are_separate_fields() -> None:
    rows = [
        {"id": 1, "output": "<think>\n2 + 2 = 4. So the answer is 4.\n</think>\n\n5", "meta": None},
        {"id": 2, "output": "<think>\n2 + 2 = 4. So the answer is 4.\n</think>\n\n4", "meta": None},
        {"id": 3, "output": "2 + 2 = 4. So the answer is 4.", "meta": None},
        {"id": 4, "output": "Plain text without any reasoning.", "meta": None},
    ]
    conflicts, lengths = formats.check_rows(rows)
    assert conflicts == [{"id": 1, "answer": "5", "rationale_concludes": "4"}]
    assert lengths == [10, 10, 5]  # words of "2 + 2 = 4. So the answer is 4." and of "2 + 2 = 4."


def test_messages_import_keeps_rationale_beside_the_answer() -> None:
    lines = [
        {"messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1", "reasoning": "R1"}]},
        {"messages": [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "<think>R2</think>A2"}]},
    ]
    data = "\n".join(json.dumps(x) for x in lines).encode()
    frame = importers.parse(data, "r.jsonl", "messages")
    assert frame["meta"].tolist() == [{"rationale": "R1", "answer": "A1"}, {"rationale": "R2", "answer": "A2"}]
    assert frame["messages"][0][1] == {"role": "assistant", "content": "A1", "reasoning_content": "R1"}
    assert frame["output"].tolist() == ["A1", "<think>R2</think>A2"]
    bad = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "A", "reasoning_content": ["x"]},
            ]
        }
    )
    with pytest.raises(
        importers.InvalidInputError, match=r"r\.jsonl line 1 \(row 0\): messages\[1\] 'reasoning_content' must be"
    ):
        importers.parse(bad.encode(), "r.jsonl", "messages")
