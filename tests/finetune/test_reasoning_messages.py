"""The trainer reads a turn's reasoning_content (the `think` export shape) as a <think> block, not dropping it."""

from __future__ import annotations

import json

from curation.finetune.data import conversation


def test_reasoning_content_is_trained_on_as_a_think_block() -> None:
    turns = [
        {"role": "user", "content": "What is 17 * 3?"},
        {"role": "assistant", "content": "51", "reasoning_content": "17 * 3 = 30 + 21 = 51."},
    ]
    assert conversation({"messages": json.dumps(turns)})[-1] == {
        "role": "assistant",
        "content": "<think>\n17 * 3 = 30 + 21 = 51.\n</think>\n\n51",
    }
    plain = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert conversation({"messages": plain}) == plain
