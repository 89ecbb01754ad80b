"""All pairs of texts whose rouge-score ROUGE-L passes a threshold, without scoring every pair.

Stages (each provably loses no passing pair; the final scores are rouge-score's floats):
1. tokens -> ids (`rouge_tokens`: numpy over the UTF-8 bytes, Arrow hashing; no Python string per token); each
   token occurrence becomes an element (token, k-th occurrence), so the multiset
   overlap of two texts is the size of the intersection of their element sets, and LCS <= overlap.
2. texts are grouped into length bands; a pair of bands is skipped when even LCS = min(m, n) cannot pass.
3. prefix filtering: elements are ordered rarest first; a passing pair needs LCS >= L (the smallest LCS that
   passes for these lengths), so the first len - L + 1 elements of both texts share an element. Candidates
   come from a sparse product of the two bands' prefix matrices, which also counts the shared prefix elements.
   Prefixes are `extend` elements longer than needed, so the first min(overlap, 1 + extend) shared elements lie
   in both (the k-th sits at position <= len - (overlap - k) - 1): entries counting fewer are dropped at once.
4. positional bound: overlap <= shared prefix elements + the suffix of the text whose prefix ends first.
5. exact LCS (rapidfuzz, both cores) for the survivors, then rouge-score's float F-measure and the rule.
The float F-measure is strictly increasing in the LCS length (steps of 2/(m+n) dwarf rounding), so testing a
bound with the same float formula is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from curation.dedup.rouge import check_rule, check_threshold, f_measure, f_measure_array, passes_rule, tokenizer_for
from curation.dedup.rouge_tokens import first_seen_ids, rouge_token_ids, rouge_token_strings
from curation.executors import IN_PROCESS, Executor, split

Progress = Callable[[float, str], None]
MAX_CODES = 0x110000 - 0x800  # one character per token id; the surrogate range is skipped
EXACT_BAND_LENGTHS = 32  # texts up to this many tokens get a band per length
BAND_RATIO = 1.08  # longer texts share geometric bands
LCS_CHUNK = 400_000
_SURROGATE_START, _SURROGATES = 0xD800, 0x800


@dataclass(frozen=True)
class Tokenized:
    """Token ids of many texts, flat, plus the same sequences as strings of one character per shared token.

    Tokens found in only one text can never be part of an LCS between two different texts, so `encoded` leaves
    them out (lengths keep counting them). When even the shared tokens exceed the characters available,
    `encoded` is None and each batch of pairs is encoded with codes local to its own texts (`encode_docs`).
    """

    lengths: np.ndarray  # int64, tokens per text
    offsets: np.ndarray  # int64, len + 1
    token_ids: np.ndarray  # int64, flat
    encoded: np.ndarray | None  # object array of str, one char per shared token; None when too many


def tokenize_texts(
    texts: Sequence[str] | pa.Array, tokenizer: str = "rouge", executor: Executor = IN_PROCESS
) -> Tokenized:
    """Tokenise and encode texts with one shared vocabulary (a parallel `executor` tokenises chunks of texts; the
    ids are numbered here, in text order, exactly as in process)."""
    if executor.parallel:
        codes, lengths = _token_ids_on(executor, texts, tokenizer)
    elif tokenizer == "rouge":
        codes, lengths = rouge_token_ids(texts)
    else:
        listed = texts.to_pylist() if isinstance(texts, pa.Array) else texts
        codes, lengths = _python_token_ids(listed, tokenizer_for(tokenizer))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    shared = _shared_codes(codes, lengths)
    if len(shared) and shared.max() >= MAX_CODES:
        return Tokenized(lengths, offsets, codes, None)
    return Tokenized(lengths, offsets, codes, _encode(shared, codes, offsets))


TOKENISE_CHUNK = 50_000


def _token_ids_on(executor: Executor, texts: Sequence[str], tokenizer: str) -> tuple[np.ndarray, np.ndarray]:
    chunks = [
        texts.slice(s, TOKENISE_CHUNK) if isinstance(texts, pa.Array) else list(texts[s : s + TOKENISE_CHUNK])
        for s in range(0, len(texts), TOKENISE_CHUNK)
    ]
    parts = list(executor.map(token_strings, chunks, shared=tokenizer))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flat = pa.chunked_array([p[0] for p in parts], type=pa.large_string()).combine_chunks()
    return first_seen_ids(flat), np.concatenate([p[1] for p in parts]).astype(np.int64)


def token_strings(tokenizer: str, texts: list[str] | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(every token of `texts`, flat; tokens per text) by the named tokenizer (a chunk of `tokenize_texts`)."""
    if tokenizer == "rouge":
        return rouge_token_strings(texts)
    if isinstance(texts, pa.Array):
        texts = texts.to_pylist()
    lists = [tokenizer_for(tokenizer)(t) for t in texts]
    flat = pa.array([w for ws in lists for w in ws], type=pa.large_string())
    return flat, np.fromiter((len(ws) for ws in lists), dtype=np.int64, count=len(lists))


def _python_token_ids(texts: Sequence[str], tokenize: Callable[[str], list[str]]) -> tuple[np.ndarray, np.ndarray]:
    token_lists = [tokenize(t) for t in texts]
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    flat = [tok for tokens in token_lists for tok in tokens]
    del token_lists
    codes, _ = pd.factorize(pd.Series(flat, dtype=object)) if flat else (np.zeros(0, np.int64), None)
    return np.asarray(codes, dtype=np.int64), lengths


def _shared_codes(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per token occurrence: a dense code for tokens that occur in two or more texts, -1 for the rest."""
    if len(codes) == 0:
        return codes
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    vocab = int(codes.max()) + 1
    keys = np.sort(doc * vocab + codes)  # np.sort + diff: np.unique's hash path is far slower on these keys
    doc_tokens = keys[np.r_[True, keys[1:] != keys[:-1]]] % vocab
    in_docs = np.bincount(doc_tokens, minlength=vocab)
    dense = np.full(vocab, -1, dtype=np.int64)
    kept = in_docs > 1
    dense[kept] = np.arange(int(kept.sum()))
    return dense[codes]


def _encode(shared: np.ndarray, codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One string per text: its shared tokens (shared >= 0) as characters, in order."""
    keep = shared >= 0
    return _strings(shared[keep], _fix_offsets(offsets, keep))


def _fix_offsets(offsets: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Offsets into the kept elements of a flat array, given offsets into the whole array."""
    before = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=before[1:])
    return before[offsets]


def _strings(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    points = points + np.where(points >= _SURROGATE_START, _SURROGATES, 0)
    big = points.astype("<u4").tobytes().decode("utf-32-le")
    out = np.empty(len(offsets) - 1, dtype=object)
    out[:] = [big[offsets[i] : offsets[i + 1]] for i in range(len(out))]
    return out


def encode_docs(tok: Tokenized, docs: np.ndarray) -> np.ndarray:
    """Strings for `docs` (unique, sorted) with codes local to them; ValueError when they need too many."""
    lengths = tok.lengths[docs]
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.repeat(tok.offsets[docs] - offsets[:-1], lengths) + np.arange(offsets[-1])
    ids = tok.token_ids[flat]
    local = _shared_codes(ids, lengths)  # only tokens two of these texts share can be in an LCS
    if len(local) and local.max() >= MAX_CODES:
        raise ValueError("too many distinct tokens for one batch")
    return _strings(local[local >= 0], _fix_offsets(offsets, local >= 0))


def min_passing_lcs(m: np.ndarray, n: np.ndarray, threshold: float, rule: str) -> np.ndarray:
    """Smallest LCS length whose float F-measure passes the rule for lengths m, n; huge when none does."""
    m, n = np.asarray(m, dtype=np.int64), np.asarray(n, dtype=np.int64)
    shortest = np.minimum(m, n)
    base = np.ceil(threshold * (m + n) / 2).astype(np.int64)
    result = np.full(m.shape, np.iinfo(np.int64).max // 4, dtype=np.int64)
    for delta in range(3, -4, -1):  # scan downwards so the smallest passing length wins
        lcs = base + delta
        ok = (lcs >= 1) & (lcs <= shortest) & passes_rule(f_measure_array(lcs, m, n), threshold, rule)
        result = np.where(ok, lcs, result)
    return result


def length_bands(lengths: np.ndarray) -> np.ndarray:
    """Band number of each length: one band per length up to EXACT_BAND_LENGTHS, geometric above."""
    lengths = np.asarray(lengths, dtype=np.float64)
    above = EXACT_BAND_LENGTHS + np.floor(np.log(np.maximum(lengths, 1) / EXACT_BAND_LENGTHS) / np.log(BAND_RATIO))
    return np.where(lengths <= EXACT_BAND_LENGTHS, lengths, above + 1).astype(np.int64)


@dataclass
class _Band:
    docs: np.ndarray  # global doc indices, sorted
    ranks: np.ndarray  # docs x longest length: element ranks ascending (rarest first), padded with -1
    lengths: np.ndarray
    distinct: np.ndarray  # the distinct lengths


class _Joiner:
    """Prefix-filtered candidate generation over length bands, then exact LCS."""

    def __init__(self, tok: Tokenized, threshold: float, rule: str, extend: int = 1) -> None:
        self.tok, self.threshold, self.rule, self.extend = tok, threshold, rule, extend
        self.sorted_ranks = _element_ranks(tok)
        self.n_elements = int(self.sorted_ranks.max()) + 1 if len(self.sorted_ranks) else 0

    def band(self, docs: np.ndarray) -> _Band:
        lengths = self.tok.lengths[docs]
        columns = np.arange(int(lengths.max()) if len(docs) else 0)
        inside = columns[None, :] < lengths[:, None]
        ranks = np.full(inside.shape, -1, dtype=np.int64)
        flat = self.tok.offsets[docs][:, None] + columns[None, :]
        ranks[inside] = self.sorted_ranks[flat[inside]]
        return _Band(docs, ranks, lengths, np.unique(lengths))

    def candidates(self, left: _Band, right: _Band, same: bool) -> tuple[np.ndarray, np.ndarray]:
        """Doc pairs (left, right) that survive the length, prefix and positional bounds."""
        m_all, n_all = left.distinct, right.distinct
        need = min_passing_lcs(m_all[:, None], n_all[None, :], self.threshold, self.rule)
        lcs_floor = int(need.min())
        if lcs_floor > min(m_all.max(), n_all.max()):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        a, last_a, suffix_a = self._prefix_matrix(left, lcs_floor)
        b, last_b, suffix_b = (a, last_a, suffix_a) if same else self._prefix_matrix(right, lcs_floor)
        shared = a @ b.T
        # The first min(overlap, 1 + extend) shared elements lie in both prefixes (each is one longer than
        # prefix filtering needs per extra element), so a pair that can pass shares at least that many.
        keep = np.flatnonzero(shared.data >= min(lcs_floor, 1 + self.extend))
        i = np.searchsorted(shared.indptr, keep, side="right") - 1
        j, count = shared.indices[keep].astype(np.int64), shared.data[keep].astype(np.int64)
        del shared
        if same:
            keep = i < j
            i, j, count = i[keep], j[keep], count[keep]
        m, n = left.lengths[i], right.lengths[j]
        # Shared elements ranked after the earlier-ending prefix lie in that text's suffix.
        suffix = np.where(last_a[i] <= last_b[j], suffix_a[i], suffix_b[j])
        bound = np.minimum(count + suffix, np.minimum(m, n))
        keep = passes_rule(f_measure_array(bound, m, n), self.threshold, self.rule)
        return left.docs[i[keep]], right.docs[j[keep]]

    def _prefix_matrix(self, band: _Band, lcs_floor: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Rows = the band's texts, columns = elements in their prefixes; plus last prefix rank, suffix length."""
        # A text shorter than lcs_floor cannot pass with any text of the other band: empty prefix.
        prefix_len = np.clip(band.lengths - lcs_floor + 1 + self.extend, 0, band.lengths)
        indptr = np.zeros(len(prefix_len) + 1, dtype=np.int64)
        np.cumsum(prefix_len, out=indptr[1:])
        indices = band.ranks[np.arange(band.ranks.shape[1])[None, :] < prefix_len[:, None]]
        data = np.ones(len(indices), dtype=np.int32)
        matrix = sp.csr_matrix((data, indices, indptr), shape=(len(prefix_len), self.n_elements))
        last = np.where(prefix_len > 0, indices[np.maximum(indptr[1:] - 1, 0)] if len(indices) else -1, -1)
        return matrix, last, band.lengths - prefix_len

    def exact(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """rouge-score F-measure of candidate pairs (a = target, b = prediction); only the passing ones."""
        lengths = self.tok.lengths
        lcs = pair_lcs(self.tok, a, b)
        score = f_measure_array(lcs, lengths[a], lengths[b])
        keep = passes_rule(score, self.threshold, self.rule)
        return a[keep], b[keep], score[keep]


def pair_lcs(tok: Tokenized, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """LCS length (in tokens) of each pair of texts (a[i], b[i])."""
    if tok.encoded is not None:
        return process.cpdist(tok.encoded[a], tok.encoded[b], scorer=LCSseq.similarity, dtype=np.int32, workers=-1)
    docs, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    try:
        strings = encode_docs(tok, docs)
    except ValueError:  # too many tokens shared within this batch: halve it
        if len(a) <= 1:
            raise
        half = len(a) // 2
        return np.concatenate([pair_lcs(tok, a[:half], b[:half]), pair_lcs(tok, a[half:], b[half:])])
    left, right = strings[inverse[: len(a)]], strings[inverse[len(a) :]]
    return process.cpdist(left, right, scorer=LCSseq.similarity, dtype=np.int32, workers=-1)


def _element_ranks(tok: Tokenized) -> np.ndarray:
    """For the flat token array: each occurrence's element rank (rarest first, ties by element key), sorted
    within each text. Element (token t, k-th occurrence in its text) has key k * vocab + t."""
    if len(tok.token_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    vocab = int(tok.token_ids.max()) + 1
    keys = np.repeat(np.arange(len(tok.lengths), dtype=np.int64) * vocab, tok.lengths)
    keys += tok.token_ids
    keys.sort()  # by text, then token: the occurrences of a token in a text are adjacent
    positions = np.arange(len(keys))
    starts = np.r_[True, keys[1:] != keys[:-1]]
    occurrence = positions - np.maximum.accumulate(np.where(starts, positions, 0))
    del positions, starts
    element = keys % vocab  # first occurrences: element id = token id (every token occurs once somewhere)
    repeated = np.flatnonzero(occurrence > 0)
    later, element_of = np.unique(occurrence[repeated] * vocab + element[repeated], return_inverse=True)
    element[repeated] = vocab + element_of
    del occurrence, repeated, element_of
    n_elements = vocab + len(later)
    frequency = np.bincount(element, minlength=n_elements)
    rank_of_element = np.empty(n_elements, dtype=np.int64)
    rank_of_element[np.lexsort((np.r_[np.arange(vocab), later], frequency))] = np.arange(n_elements)
    keys //= vocab  # text of each occurrence
    keys *= n_elements
    keys += rank_of_element[element]
    del element
    keys.sort()
    keys %= n_elements
    return keys


def rouge_self_join(
    tok: Tokenized,
    threshold: float,
    rule: str,
    progress: Progress | None = None,
    extend: int = 1,
    executor: Executor = IN_PROCESS,
) -> pd.DataFrame:
    """Every pair (a < b) of texts whose ROUGE-L passes the rule: columns a, b, score."""
    docs = np.arange(len(tok.lengths))
    return _join(tok, docs, None, threshold, rule, progress, extend, executor)


def rouge_cross_join(
    tok: Tokenized,
    n_left: int,
    threshold: float,
    rule: str,
    progress: Progress | None = None,
    extend: int = 1,
    executor: Executor = IN_PROCESS,
) -> pd.DataFrame:
    """Pairs (a from the first n_left texts, b from the rest) whose ROUGE-L passes the rule (b is a global index)."""
    docs = np.arange(len(tok.lengths))
    return _join(tok, docs[:n_left], docs[n_left:], threshold, rule, progress, extend, executor)


def _lengths_can_pass(m: np.ndarray, n: np.ndarray, threshold: float, rule: str) -> bool:
    """Whether some pair of these lengths passes with LCS = the shorter length (the best case)."""
    (_, lo_max), (hi_min, _) = sorted([(int(m.min()), int(m.max())), (int(n.min()), int(n.max()))])
    if lo_max >= hi_min:  # overlapping length ranges: equal lengths can score 1.0
        return True
    return bool(passes_rule(f_measure(lo_max, lo_max, hi_min), threshold, rule))


def _bands(joiner: _Joiner, docs: np.ndarray) -> dict[int, _Band]:
    docs = docs[joiner.tok.lengths[docs] > 0]
    bands_of = length_bands(joiner.tok.lengths[docs])
    return {int(b): joiner.band(docs[bands_of == b]) for b in np.unique(bands_of)}


@dataclass
class JoinPlan:
    """Everything a join needs, and its steps (pairs of length bands); steps are independent of each other, so
    they can run anywhere (a parallel executor runs groups of them as tasks)."""

    joiner: _Joiner
    left: dict[int, _Band]
    right: dict[int, _Band]
    steps: list[tuple[int, int]]
    self_join: bool


def plan_join(
    tok: Tokenized, left_docs: np.ndarray, right_docs: np.ndarray | None, threshold: float, rule: str, extend: int = 1
) -> JoinPlan:
    """Length bands of both sides and the band pairs whose lengths can pass at all."""
    check_threshold(threshold)
    check_rule(rule)
    joiner = _Joiner(tok, threshold, rule, extend)
    left = _bands(joiner, left_docs)
    right = left if right_docs is None else _bands(joiner, right_docs)
    steps = [
        (x, y)
        for x in left
        for y in right
        if (right_docs is not None or x <= y) and _lengths_can_pass(left[x].lengths, right[y].lengths, threshold, rule)
    ]
    return JoinPlan(joiner, left, right, steps, right_docs is None)


def run_steps(
    plan: JoinPlan, steps: Sequence[tuple[int, int]], progress: Progress | None = None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Candidates and exact scores of some steps of a plan: (a, b, score) arrays of the passing pairs."""
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pending_a: list[np.ndarray] = []
    pending_b: list[np.ndarray] = []
    pending = 0
    for step, (x, y) in enumerate(steps):
        a, b = plan.joiner.candidates(plan.left[x], plan.right[y], same=plan.self_join and x == y)
        pending_a.append(a)
        pending_b.append(b)
        pending += len(a)
        if pending >= LCS_CHUNK or step == len(steps) - 1:
            a, b = np.concatenate(pending_a), np.concatenate(pending_b)
            found.append(_exact(plan.joiner, a, b, plan.self_join))
            pending_a, pending_b, pending = [], [], 0
        if progress:
            progress((step + 1) / max(len(steps), 1), f"length bands {step + 1}/{len(steps)}")
    return found


def _join(
    tok: Tokenized,
    left_docs: np.ndarray,
    right_docs: np.ndarray | None,
    threshold: float,
    rule: str,
    progress: Progress | None,
    extend: int,
    executor: Executor,
) -> pd.DataFrame:
    plan = plan_join(tok, left_docs, right_docs, threshold, rule, extend)
    if not executor.parallel:
        return pairs_frame(run_steps(plan, plan.steps, progress))
    groups = split(plan.steps, executor)
    found = []
    for done, part in enumerate(executor.map(_run_group, groups, shared=plan), start=1):
        found += part
        if progress:
            progress(done / len(groups), f"length-band groups {done}/{len(groups)} done ({executor.name})")
    return pairs_frame(found)


def _run_group(plan: JoinPlan, steps: list[tuple[int, int]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return run_steps(plan, steps)


def _exact(joiner: _Joiner, a: np.ndarray, b: np.ndarray, order: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if order:  # self join: a < b, and a is rouge-score's target
        a, b = np.minimum(a, b), np.maximum(a, b)
    return joiner.exact(a, b) if len(a) else (a, b, np.zeros(0))


def pairs_frame(found: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    if not found:
        return pd.DataFrame({"a": np.zeros(0, np.int64), "b": np.zeros(0, np.int64), "score": np.zeros(0)})
    frame = pd.DataFrame(
        {
            "a": np.concatenate([f[0] for f in found]).astype(np.int64),
            "b": np.concatenate([f[1] for f in found]).astype(np.int64),
            "score": np.concatenate([f[2] for f in found]).astype(np.float64),
        }
    )
    return frame.sort_values(["a", "b"], kind="stable").reset_index(drop=True)


def find_rouge_pairs(
    texts: Sequence[str],
    threshold: float = 0.7,
    rule: str = "ge",
    tokenizer: str = "rouge",
    progress: Progress | None = None,
    executor: Executor = IN_PROCESS,
) -> pd.DataFrame:
    """All pairs (a < b, positions in `texts`) whose rouge-score ROUGE-L passes the rule: columns a, b, score."""
    check_threshold(threshold)
    check_rule(rule)
    if progress:
        progress(0.0, f"tokenising {len(texts):,} texts")
    tok = tokenize_texts(texts, tokenizer, executor)
    return rouge_self_join(tok, threshold, rule, progress, executor=executor)


def nearest_scores(tok: Tokenized, rows: np.ndarray, others: np.ndarray | None = None, block: int = 64) -> np.ndarray:
    """Highest ROUGE-L of each of `rows` against every other text, or against `others` only (sorted positions;
    a sample, for a threshold histogram over very many texts)."""
    best = np.zeros(len(rows))
    others = np.arange(len(tok.lengths)) if others is None else np.asarray(others, dtype=np.int64)
    shared = list(tok.encoded[others]) if tok.encoded is not None else None
    for start in range(0, len(rows), block):
        chunk = rows[start : start + block]
        if shared is not None:
            queries, compared = list(tok.encoded[chunk]), shared
        else:  # codes local to this block: tokens no query has cannot be in its LCS
            queries, everyone = _block_strings(tok, chunk)
            compared = [everyone[i] for i in others]
        lcs = process.cdist(queries, compared, scorer=LCSseq.similarity, dtype=np.int32, workers=-1)
        scores = f_measure_array(lcs, tok.lengths[chunk][:, None], tok.lengths[others][None, :])
        same = chunk[:, None] == others[None, :]
        scores[same] = -1.0
        best[start : start + len(chunk)] = scores.max(axis=1) if scores.shape[1] else 0.0
    return np.maximum(best, 0.0)


def _block_strings(tok: Tokenized, chunk: np.ndarray) -> tuple[list[str], list[str]]:
    """Strings of `chunk` and of every text, over the tokens the chunk's texts contain (codes local to them)."""
    vocab = int(tok.token_ids.max()) + 1
    code = np.full(vocab, -1, dtype=np.int64)
    ids = np.concatenate([tok.token_ids[tok.offsets[i] : tok.offsets[i + 1]] for i in chunk])
    present = np.unique(ids)
    code[present] = np.arange(len(present))
    mapped = code[tok.token_ids]
    strings = _strings(mapped[mapped >= 0], _fix_offsets(tok.offsets, mapped >= 0))
    return list(strings[chunk]), list(strings)
