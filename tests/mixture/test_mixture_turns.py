"""Mixture preview counts turns, assistant turns and tokens (chars / 4), so multi-turn chats weigh what they hold."""

from __future__ import annotations

import json

from curation.io import importers
from curation.mixture import plan as mixture
from curation.store import Store

CHAT = {  # 7 turns, 3 replies; text: 4 ("Hush") + 6 * 3 (Q1?, A1., ...) + 4 ("why?") = 26 chars
    "messages": [
        {"role": "system", "content": "Hush"},
        {"role": "user", "content": "Q1?"},
        {"role": "assistant", "content": "A1.", "reasoning_content": "why?"},
        {"role": "user", "content": "Q2?"},
        {"role": "assistant", "content": "A2."},
        {"role": "user", "content": "Q3?"},
        {"role": "assistant", "content": "A3."},
    ]
}
PLAIN = [{"instruction": "12345678", "input": "", "output": "12345678"}] * 2  # 2 turns, 1 reply, 16 chars each


def test_preview_counts_turns_replies_and_tokens_per_group(store: Store) -> None:
    importers.import_bytes(
        store, (json.dumps(CHAT) + "\n").encode() * 2, "chats.jsonl", "messages", source_name="chats"
    )
    importers.import_bytes(store, json.dumps(PLAIN).encode(), "plain.json", "alpaca", source_name="plain")
    config = mixture.MixConfig(group_by="source", statuses=["pending"])
    groups = mixture.preview(store, config).groups.set_index("group")
    assert groups.loc["chats", ["after", "turns", "replies"]].tolist() == [2, 14, 6]
    assert groups.loc["chats", "tokens"] == 13  # 2 rows x 26 chars / 4
    assert groups.loc["plain", ["after", "turns", "replies", "tokens"]].tolist() == [2, 4, 2, 8]
    capped = mixture.preview(store, mixture.MixConfig(group_by="source", statuses=["pending"], total=2)).groups
    assert capped.set_index("group")["turns"].to_dict() == {"chats": 7, "plain": 2}  # per-row mean x rows taken
