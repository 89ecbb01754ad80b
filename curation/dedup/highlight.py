"""Why two rows match: the tokens of one text that lie on a longest common subsequence with another."""

from __future__ import annotations

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
