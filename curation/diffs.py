"""Readable differences between two versions of a text field (for revision history)."""

from __future__ import annotations

import difflib


def _text(value: object) -> str:
    """A stored value as text: None and NaN (pandas' missing value) are empty."""
    return value if isinstance(value, str) else ""


def text_diff(old: str | None, new: str | None, *, context: int = 2) -> str:
    """Unified line diff from `old` to `new` ('' when equal); None counts as empty text."""
    old, new = _text(old), _text(new)
    old_lines = (old or "").splitlines() or [""]
    new_lines = (new or "").splitlines() or [""]
    lines = difflib.unified_diff(old_lines, new_lines, "before", "after", n=context, lineterm="")
    return "\n".join(lines)


def inline_diff(old: str | None, new: str | None, *, width: int = 80) -> str:
    """One-line word diff, e.g. 'Add 2 and [-3-]{+4+}.', shortened to about `width` characters."""
    a, b = _text(old).split(), _text(new).split()
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            same = a[i1:i2]
            parts.append(" ".join(same if len(same) <= 6 else [*same[:3], "…", *same[-3:]]))
            continue
        if i2 > i1:
            parts.append("[-" + " ".join(a[i1:i2]) + "-]")
        if j2 > j1:
            parts.append("{+" + " ".join(b[j1:j2]) + "+}")
    text = " ".join(p for p in parts if p)
    return text if len(text) <= width else text[: width - 1] + "…"
