"""Final answers of free-form replies: extract ("So the answer is X", "#### X", \\boxed{X}), normalise, compare."""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_HASHES = re.compile(r"####\s*([^\n]+)")
_SO = re.compile(r"the answer is\s*:?\s*([^\n]+)", re.IGNORECASE)
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?$")


def extract_answer(text: str) -> str:
    """The last marked final answer in a reply (\\boxed{}, '####', 'the answer is'); else the whole reply."""
    for pattern in (_BOXED, _HASHES, _SO):
        found = pattern.findall(text)
        if found:
            return found[-1]
    return text


def normalise(answer: str) -> str:
    """Lowercase, no surrounding space/quotes/final period, no $ or thousands commas, numbers in one form."""
    text = " ".join(answer.strip().lower().split())
    text = text.strip("\"'` ").rstrip(".").strip()
    text = text.replace("$", "")
    if _NUMBER.match(text.replace(",", "")):
        value = float(text.replace(",", ""))
        return str(int(value)) if value.is_integer() else repr(value)
    return text


def is_correct(reply: str, reference: str) -> bool:
    """Whether the reply's extracted final answer equals the reference's, after normalising both."""
    return normalise(extract_answer(reply)) == normalise(extract_answer(reference))
