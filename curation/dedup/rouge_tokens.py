"""Many texts -> rouge-score token ids at once, without a Python string per token.

rouge-score lowercases a text (Python's `str.lower`) and keeps the runs of [a-z0-9]. After `str.lower`, every
character outside [a-z0-9] is a separator, and in UTF-8 every byte of a non-ASCII character is >= 0x80, so the
token runs are exactly the runs of the bytes [a-z0-9] in the UTF-8 of the lowercased text. Those runs are found
with numpy over the concatenated bytes (an Arrow string array) and interned with Arrow's C++ hashing; a run never
crosses from one text into the next.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)] = True


def rouge_token_ids(texts: Sequence[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(token ids flat, tokens per text): ids number distinct tokens in order of first appearance."""
    tokens, lengths = rouge_token_strings(texts)
    return first_seen_ids(tokens), lengths


def first_seen_ids(tokens: pa.Array) -> np.ndarray:
    """Dense ids of a flat string array, numbered in order of first appearance (Arrow's C++ hashing)."""
    return pc.dictionary_encode(tokens).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def lowered_utf8(texts: Sequence[str] | pa.Array) -> pa.LargeBinaryArray:
    """Each text lowercased by Python's `str.lower`, as UTF-8. An Arrow string array (e.g. a column read from
    the store) needs no Python string for its ASCII texts: Arrow's ASCII lowering is `str.lower` on them, and
    only the texts with other characters go through Python."""
    if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return pa.array([t.lower().encode("utf-8", "surrogatepass") for t in texts], type=pa.large_binary())
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if texts.offset:  # a slice: some compute kernels below mishandle its offsets, so copy it out first
        texts = texts.take(pa.array(np.arange(len(texts))))
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    lowered = pc.ascii_lower(texts)
    other = pc.invert(pc.string_is_ascii(texts))
    if pc.any(other).as_py():
        python = [t.lower() for t in pc.filter(texts, other).to_pylist()]
        lowered = pc.replace_with_mask(lowered, other, pa.array(python, type=pa.large_string()))
    return lowered.cast(pa.large_binary())


def rouge_token_strings(texts: Sequence[str] | pa.Array) -> tuple[pa.LargeStringArray, np.ndarray]:
    """(every token of every text, flat, as an Arrow string array; tokens per text)."""
    if not len(texts):
        return pa.array([], type=pa.large_string()), np.zeros(0, np.int64)
    lowered = lowered_utf8(texts)
    first = lowered.offset  # a slice starts inside its buffers
    starts_of_text = np.frombuffer(lowered.buffers()[1], dtype=np.int64)[first : first + len(texts) + 1]
    data = np.frombuffer(lowered.buffers()[2] or b"", dtype=np.uint8)[starts_of_text[0] : starts_of_text[-1]]
    starts_of_text = starts_of_text - starts_of_text[0]
    word = _WORD_BYTE[data]
    begins = word.copy()
    begins[1:] &= ~word[:-1]
    inside = starts_of_text[:-1][starts_of_text[:-1] < len(data)]
    begins[inside] = word[inside]  # a text's first byte starts a run even after a word byte of the previous text
    token_starts = np.flatnonzero(begins)
    lengths = np.bincount(np.searchsorted(starts_of_text, token_starts, side="right") - 1, minlength=len(texts))
    compact_starts = np.flatnonzero(begins[word])
    offsets = np.append(compact_starts, int(word.sum())).astype(np.int64)
    tokens = pa.LargeStringArray.from_buffers(
        len(compact_starts), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data[word]))
    )
    return tokens, lengths.astype(np.int64)
