"""Why two rows match: the tokens of one text that lie on a longest common subsequence with another, and that
text as HTML with those tokens marked (every character escaped, nothing added or dropped)."""

from __future__ import annotations

import html

from rapidfuzz.distance import LCSseq

from curation.dedup.rouge import token_pattern


def shared_segments(text: str, other: str, tokenizer: str = "rouge") -> list[tuple[str, bool]]:
    """`text` cut into consecutive segments; True marks tokens on a longest common subsequence with `other`.

    Joining the segments gives `text` back (or its lowercase form when lowercasing changes its length).
    """
    pattern = token_pattern(tokenizer)
    lowered = text.lower()
    base = text if len(lowered) == len(text) else lowered
    spans = [m.span() for m in pattern.finditer(lowered)]
    tokens = [lowered[a:b] for a, b in spans]
    other_tokens = pattern.findall(other.lower())
    shared = [False] * len(tokens)
    if tokens and other_tokens:
        for op in LCSseq.opcodes(tokens, other_tokens):
            if op.tag == "equal":
                shared[op.src_start : op.src_end] = [True] * (op.src_end - op.src_start)
    segments: list[tuple[str, bool]] = []
    cursor = 0
    for (start, end), is_shared in zip(spans, shared, strict=True):
        if start > cursor:
            segments.append((base[cursor:start], False))
        segments.append((base[start:end], is_shared))
        cursor = end
    if cursor < len(base):
        segments.append((base[cursor:], False))
    return segments


def highlighted_html(text: str, other: str | None, tokenizer: str = "rouge") -> str:
    """`text` exactly as stored, HTML-escaped, line breaks and spaces kept, tokens shared with `other` in <mark>.

    Its text content (tags stripped, entities unescaped) is `text` itself: no inserted spaces or padding that
    would show "< script >" for "<script>" or "order ." for "order.".
    """
    segments = [(text, False)] if other is None else shared_segments(text, other, tokenizer)
    if other is not None and "".join(s for s, _ in segments) != text:  # lowercasing changed the length
        segments = [(text, False)]
    body = "".join(
        f'<mark style="padding:0;margin:0">{html.escape(s)}</mark>' if shared else html.escape(s)
        for s, shared in segments
    )
    return f'<div style="white-space:pre-wrap;overflow-wrap:anywhere">{body}</div>'
