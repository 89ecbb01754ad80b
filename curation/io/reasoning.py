"""Reasoning fields in imported conversations: `reasoning_content` / `reasoning` on assistant turns and
`<think>...</think>` blocks at the start of an assistant reply.

The importers keep the rationale as its own field (`meta.rationale`) beside the final answer
(`meta.answer`), and keep `reasoning_content` on the stored turn; the visible output is left as written.
"""

from __future__ import annotations

import re
from typing import Any

REASONING_KEYS = ("reasoning_content", "reasoning")
_THINK = re.compile(r"^\s*<think>(?P<trace>.*?)</think>(?P<answer>.*)$", re.S | re.I)


def turn_reasoning(turn: dict[str, Any]) -> tuple[str | None, str | None]:
    """(reasoning text, error) of one raw turn: the first non-empty reasoning key; an error if it is not a string."""
    for key in REASONING_KEYS:
        value = turn.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            return None, f"'{key}' must be a string; got {type(value).__name__}"
        if value.strip():
            return value, None
    return None, None


def reasoning_fields(content: str, reasoning: str | None) -> dict[str, str]:
    """`{"rationale", "answer"}` for an assistant reply with separate reasoning or a leading <think> block."""
    if reasoning and reasoning.strip():
        return {"rationale": reasoning.strip(), "answer": content.strip()}
    found = _THINK.match(content or "")
    if found and found.group("trace").strip() and found.group("answer").strip():
        return {"rationale": found.group("trace").strip(), "answer": found.group("answer").strip()}
    return {}
