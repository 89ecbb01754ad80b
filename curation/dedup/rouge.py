"""ROUGE-L exactly as rouge-score computes it, plus a fast index for "max ROUGE-L against a pool".

`rouge_l(a, b)` equals `RougeScorer(['rougeL'], use_stemmer=False).score(a, b)['rougeL'].fmeasure` bit for bit:
same tokeniser (lowercase; every run of non-[a-z0-9] characters separates tokens), same LCS length, and the
F-measure computed in floating point in the same order of operations (so exact ties such as 7/10 can come out as
0.6999999999999998, and a threshold test must be made on that float). The LCS itself comes from rapidfuzz
(`LCSseq` over token ids mapped to single characters), which gives the same integer as rouge-score's DP table.

`tokenize_unicode` is a clearly separate, NOT rouge-score-compatible tokeniser for non-Latin text (rouge-score
drops every non-[a-z0-9] character, so e.g. Chinese text has no tokens and never matches).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

Rule = Literal["ge", "gt"]
RULES: tuple[str, ...] = ("ge", "gt")
TOKENIZERS: tuple[str, ...] = ("rouge", "unicode")

_TOKEN_RE = re.compile(r"[a-z0-9]+")
# One token per ideograph / kana / hangul syllable / Thai letter; runs of other letters and digits form words.
_SCRIPT_CHAR = r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
_UNICODE_TOKEN_RE = re.compile(rf"{_SCRIPT_CHAR}|(?:(?!{_SCRIPT_CHAR})[^\W_])+")
_SURROGATES = 0x800  # code points U+D800..U+DFFF are skipped when mapping token ids to characters
_MAX_TOKEN_IDS = 0x110000 - _SURROGATES


def tokenize(text: str) -> list[str]:
    """rouge-score's tokeniser without stemming: lowercase, tokens are the runs of [a-z0-9]."""
    # rouge_score.tokenize: lower(), re.sub("[^a-z0-9]+", " "), split on whitespace, keep "^[a-z0-9]+$" tokens;
    # after the substitution only [a-z0-9] and spaces remain, so the runs of [a-z0-9] are exactly its tokens.
    return _TOKEN_RE.findall(text.lower())


def tokenize_unicode(text: str) -> list[str]:
    """Alternative tokeniser for non-Latin text (NOT rouge-score): CJK/kana/Thai per character, else words."""
    return _UNICODE_TOKEN_RE.findall(text.lower())


def token_pattern(name: str) -> re.Pattern[str]:
    """The regular expression whose matches (in the lowercased text) are the tokens of tokeniser `name`."""
    tokenizer_for(name)
    return _TOKEN_RE if name == "rouge" else _UNICODE_TOKEN_RE


def tokenizer_for(name: str) -> Callable[[str], list[str]]:
    """The tokeniser called `name` ('rouge' = rouge-score semantics, 'unicode' = the non-Latin alternative)."""
    if name not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {TOKENIZERS}; got {name!r}")
    return tokenize if name == "rouge" else tokenize_unicode


def check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"rule must be 'ge' (score >= threshold) or 'gt' (score > threshold); got {rule!r}")


def check_threshold(threshold: float) -> None:
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")


def f_measure(lcs: int, len_a: int, len_b: int) -> float:
    """rouge-score's LCS F-measure for target length `len_a` and prediction length `len_b` (same float ops)."""
    if len_a == 0 or len_b == 0:
        return 0.0
    precision = lcs / len_b
    recall = lcs / len_a
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def f_measure_array(lcs: np.ndarray, len_a: np.ndarray, len_b: np.ndarray) -> np.ndarray:
    """Vectorised `f_measure` (float64, identical rounding: int->float exact, IEEE division and products)."""
    lcs, len_a, len_b = (np.asarray(x, dtype=np.float64) for x in (lcs, len_a, len_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / len_b
        recall = lcs / len_a
        total = precision + recall
        score = 2 * precision * recall / total
    return np.where((len_a > 0) & (len_b > 0) & (total > 0), score, 0.0)


def passes_rule(score: float | np.ndarray, threshold: float, rule: str) -> bool | np.ndarray:
    """True where `score` counts as a duplicate: score >= threshold ('ge') or score > threshold ('gt')."""
    return score >= threshold if rule == "ge" else score > threshold


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if not a or not b:
        return 0
    return int(LCSseq.similarity(a, b))


def rouge_l_tokens(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token lists (a = target, b = prediction; the score is symmetric)."""
    return f_measure(lcs_length(a, b), len(a), len(b))


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure exactly as rouge-score's RougeScorer(['rougeL'], use_stemmer=False) returns it."""
    return rouge_l_tokens(tokenize(a), tokenize(b))


class TokenCodec:
    """Maps tokens to single characters so rapidfuzz compares token sequences as strings."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, tokens: Iterable[str]) -> str:
        ids = self.ids
        out = []
        for token in tokens:
            tid = ids.get(token)
            if tid is None:
                tid = ids[token] = len(ids)
                if tid >= _MAX_TOKEN_IDS:
                    raise ValueError(f"more than {_MAX_TOKEN_IDS:,} distinct tokens; split the data into parts")
            out.append(chr(tid if tid < 0xD800 else tid + _SURROGATES))
        return "".join(out)


def lcs_many(query: str, pool: Sequence[str] | np.ndarray, workers: int = 1) -> np.ndarray:
    """LCS lengths of one encoded query against many encoded texts (int32 array)."""
    if len(pool) == 0:
        return np.zeros(0, dtype=np.int32)
    return process.cdist([query], pool, scorer=LCSseq.similarity, dtype=np.int32, workers=workers)[0]


class RougeIndex:
    """A growing list of texts answering exact "max ROUGE-L against every text so far" queries."""

    def __init__(self, texts: Iterable[str] = (), tokenizer: str = "rouge") -> None:
        self._tokenize = tokenizer_for(tokenizer)
        self._codec = TokenCodec()
        self._size = 0
        self._encoded = np.empty(64, dtype=object)  # capacity doubles; the first _size entries are used
        self._lengths = np.zeros(64, dtype=np.int64)
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return self._size

    def add(self, text: str) -> int:
        """Append a text; returns its index."""
        encoded = self._codec.encode(self._tokenize(text))
        index = self._size
        if index == len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros(index, dtype=np.int64)])
            self._encoded = np.concatenate([self._encoded, np.empty(index, dtype=object)])
        self._lengths[index] = len(encoded)
        self._encoded[index] = encoded
        self._size += 1
        return index

    def _query(self, text: str) -> str:
        # Unknown tokens get fresh ids; that never matches anything in the pool, so scores are unaffected.
        return self._codec.encode(self._tokenize(text))

    def scores(self, text: str) -> np.ndarray:
        """ROUGE-L of `text` (as target) against every text in the index, in index order."""
        query = self._query(text)
        lengths = self._lengths[: len(self)]
        if not query:
            return np.zeros(len(self), dtype=np.float64)
        return f_measure_array(lcs_many(query, self._encoded[: self._size]), np.full(len(self), len(query)), lengths)

    def max_score(self, text: str) -> float:
        """Highest ROUGE-L of `text` against the index (0.0 when empty)."""
        scores = self.scores(text)
        return float(scores.max()) if len(scores) else 0.0

    def most_similar(self, text: str, k: int = 10) -> list[tuple[int, float]]:
        """The k most similar texts as (index, score), score descending, ties by lower index."""
        scores = self.scores(text)
        order = np.lexsort((np.arange(len(scores)), -scores))[:k]
        return [(int(i), float(scores[i])) for i in order]

    def passes(self, text: str, threshold: float = 0.7, rule: str = "gt") -> bool:
        """Self-Instruct filter: True when no text in the index is a duplicate of `text` under the rule."""
        check_rule(rule)
        query = self._query(text)
        m = len(query)
        if m == 0 or len(self) == 0:
            return True
        lengths = self._lengths[: len(self)]
        # Provable bound: LCS <= min(m, n), and the float F-measure is increasing in the LCS length.
        bound = f_measure_array(np.minimum(lengths, m), np.full(len(lengths), m), lengths)
        candidates = np.flatnonzero(passes_rule(bound, threshold, rule))
        if len(candidates) == 0:
            return True
        lcs = lcs_many(query, self._encoded[candidates])
        scores = f_measure_array(lcs, np.full(len(candidates), m), lengths[candidates])
        return not bool(passes_rule(scores, threshold, rule).any())
