"""Training on a tool-call conversation: every assistant turn trains (its tool calls as <tool_call> blocks), the
tool results and the user turns are context only (labels -100), in both prompt formats."""

from __future__ import annotations

import pytest

from curation.finetune import data

TOOL_ROW = {
    "id": 9,
    "instruction": "Weather in Oslo?",
    "input": "",
    "output": "",
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "RESULT-4C-RAIN"},
        {"role": "assistant", "content": "It is 4 C and rainy."},
    ],
}
CALL = '<tool_call>\n{"name": "weather", "arguments": {"city": "Oslo"}}\n</tool_call>'


@pytest.fixture(scope="module")
def tok():
    return data.load_tokenizer("smollm2-135m-instruct")


def trained_and_context(enc: data.Encoded, tok) -> tuple[list[str], str]:
    spans: list[list[int]] = []
    for previous, label in zip([-100, *enc.labels], enc.labels, strict=False):
        if label != -100:
            spans.append([label]) if previous == -100 else spans[-1].append(label)
    context = tok.decode([t for t, label in zip(enc.input_ids, enc.labels, strict=True) if label == -100])
    return [tok.decode(s) for s in spans], context


@pytest.mark.parametrize(
    ("fmt", "replies"),
    [
        ("chat", [f"{CALL}<|im_end|>\n", "It is 4 C and rainy.<|im_end|>\n"]),
        ("alpaca", [f"{CALL}<|im_end|>", "It is 4 C and rainy.<|im_end|>"]),
    ],
)
def test_tool_results_are_masked_and_each_assistant_turn_trains(tok, fmt: str, replies: list[str]) -> None:
    enc = data.encode(TOOL_ROW, tok, fmt, 512, response_only=True)
    trained, context = trained_and_context(enc, tok)
    assert trained == replies
    assert "RESULT-4C-RAIN" in context  # the tool result is seen ...
    assert not any("RESULT-4C-RAIN" in t for t in trained)  # ... and never trained on
    assert "Weather in Oslo?" in context
