"""Approximate candidates + exact re-scoring for cosine search over very many vectors (an inverted-file join).

`embeddings.cosine_pairs` (exact, every pair) stays the default below EXACT_MAX_ROWS rows, where it takes seconds.
Above it, faiss k-means splits the unit vectors into `n_lists(n)` lists (each row in the list of its nearest
centroid); every row is compared with the members of its `probes` nearest lists, one matrix product per list
(bf16 on CPUs with AMX/AVX-512 BF16 units, else float32), and each pair within `screen_margin` of the threshold
is scored exactly (float64 dot product of the unit float32 vectors, as `cosine_pairs` does) and tested with the
rule. Every reported pair and score is exact; only recall depends on the lists (a pair is missed when neither row
probes the other's list). One matrix product per list is much faster than a per-query index range search (faiss
IVF-SQ8 `range_search`, this module's first version, took 55 s on 200K real-text vectors where this takes ~6 s).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from curation.dedup.rouge import check_rule, check_threshold, passes_rule
from curation.dedup.vectors import normalize, snap_to_one
from curation.executors import IN_PROCESS, Executor, split

Progress = Callable[[float, str], None]
SEARCHES = ("auto", "exact", "index")
EXACT_MAX_ROWS = 100_000  # exact: ~5 s here on 2 cores (the index ~3 s), every pair; it grows with n squared
DEFAULT_PROBES = 8  # recall 0.9994 of the exact pairs at 0.9 on 200K real-text vectors (bench/search_bench.py)
# bf16 keeps 8 significant bits (unit roundoff u = 2^-8): for unit vectors the rounded inputs move a dot product by
# at most (2u + u^2) sum|x y| <= 0.0079 (accumulation is float32) and the bf16 result's own rounding by at most
# 2^-9 near 1, so a screen at threshold - 0.0125 cannot drop a pair that passes.
BF16_MARGIN = 0.0125
FLOAT32_MARGIN = 1e-4
QUERY_ROWS = 4096
RESCORE_PAIRS = 32_768  # candidates scored exactly at a time (~100 MB of float64 rows at most)
ASSIGN_ROWS = 16_384


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def search_for(n: int, requested: str = "auto") -> str:
    """'exact' or 'index': auto uses the index only above EXACT_MAX_ROWS rows (and only with faiss installed)."""
    if requested not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}; got {requested!r}")
    if requested == "index" and not faiss_available():
        raise RuntimeError("faiss is not installed: pip install faiss-cpu (or use --search exact)")
    if requested == "auto":
        return "index" if n > EXACT_MAX_ROWS and faiss_available() else "exact"
    return requested


def n_lists(n: int) -> int:
    """Inverted lists for n vectors: ~2 sqrt(n), at least 1, and at least ~40 rows per list."""
    return max(1, min(int(2 * np.sqrt(n)), n // 40))


@functools.lru_cache(maxsize=1)
def bf16_matmul_is_native() -> bool:
    """Whether torch multiplies bf16 matrices in hardware here (oneDNN with AMX or AVX-512 BF16 units)."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def screen_dtype_and_margin(dtype: str = "auto") -> tuple[str, float]:
    """The matrix-product type of the candidate screen ('bfloat16' or 'float32') and its provable margin."""
    if dtype == "auto":
        dtype = "bfloat16" if bf16_matmul_is_native() else "float32"
    return dtype, BF16_MARGIN if dtype == "bfloat16" else FLOAT32_MARGIN


def indexed_cosine_pairs(
    vectors: np.ndarray,
    threshold: float = 0.9,
    rule: str = "ge",
    progress: Progress | None = None,
    probes: int = DEFAULT_PROBES,
    seed: int = 0,
    dtype: str = "auto",
    executor: Executor = IN_PROCESS,
) -> pd.DataFrame:
    """Index candidates, exact scores: columns a, b, score (like `cosine_pairs`); a parallel `executor` screens
    groups of lists in its workers (each picks its own screen type: bf16 only where its CPU multiplies bf16
    natively)."""
    check_threshold(threshold)
    check_rule(rule)
    unit = np.ascontiguousarray(normalize(vectors))
    n = len(unit)
    lists = n_lists(n)
    probes = min(probes, lists)
    with torch_threads(os.cpu_count() or 2):
        centroids = _centroids(unit, lists, seed)
        nearest = _nearest_lists(unit, centroids, probes, dtype)
    members = _grouped(nearest[:, 0], lists)
    queries = _grouped(nearest.reshape(-1), lists, every=probes)
    if executor.parallel:
        groups = split(list(range(lists)), executor)
        found = []
        for done, part in enumerate(executor.map(_list_group, groups, (unit, members, queries, threshold, dtype)), 1):
            found += part
            if progress:
                progress(done / len(groups), f"list groups {done}/{len(groups)} done ({executor.name})")
    else:
        found = list_pairs(unit, members, queries, range(lists), threshold, dtype, progress)
    return _exact_pairs(unit, [f[0] for f in found], [f[1] for f in found], threshold, rule)


def _list_group(shared: tuple, numbers: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    unit, members, queries, threshold, dtype = shared
    return list_pairs(unit, members, queries, numbers, threshold, dtype, threads=1)


def list_pairs(
    unit: np.ndarray,
    members: list[np.ndarray],
    queries: list[np.ndarray],
    numbers: Iterable[int],
    threshold: float,
    dtype: str = "auto",
    progress: Progress | None = None,
    threads: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Candidate pairs (query row, member row) of the given lists: screen products >= threshold - margin, with
    `threads` matrix-product threads (default: every core)."""
    import torch

    dtype, margin = screen_dtype_and_margin(dtype)
    numbers = [k for k in numbers if len(members[k]) and len(queries[k])]
    if not numbers:
        return []
    # Gathered rows go through buffers reused for every list (fresh ones per list left ~0.6 GB more heap at 1M rows).
    most_members = max(len(members[k]) for k in numbers)
    most_queries = min(QUERY_ROWS, max(len(queries[k]) for k in numbers))
    kind, dim = getattr(torch, dtype), unit.shape[1]
    member_rows32, query_rows32 = np.empty((most_members, dim), np.float32), np.empty((most_queries, dim), np.float32)
    member_block, query_block = (
        torch.empty((most_members, dim), dtype=kind),
        torch.empty((most_queries, dim), dtype=kind),
    )
    found = []
    with torch_threads(threads or os.cpu_count() or 2):
        for done, number in enumerate(numbers, 1):
            member_rows = members[number]
            k = len(member_rows)
            np.take(unit, member_rows, axis=0, out=member_rows32[:k])
            member_block[:k].copy_(torch.from_numpy(member_rows32[:k]))
            for start in range(0, len(queries[number]), QUERY_ROWS):
                query_rows = queries[number][start : start + QUERY_ROWS]
                j = len(query_rows)
                np.take(unit, query_rows, axis=0, out=query_rows32[:j])
                query_block[:j].copy_(torch.from_numpy(query_rows32[:j]))
                hits = torch.nonzero(query_block[:j] @ member_block[:k].T >= threshold - margin).numpy()
                found.append((query_rows[hits[:, 0]], member_rows[hits[:, 1]]))
            if progress and (done % 64 == 0 or done == len(numbers)):
                progress(done / len(numbers), f"compared {done:,}/{len(numbers):,} lists of similar rows")
    return found


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _centroids(unit: np.ndarray, lists: int, seed: int) -> np.ndarray:
    """Spherical k-means centroids (faiss) of a sample of ~20 rows per list."""
    import faiss

    sample = min(len(unit), lists * 20)
    rows = unit[np.sort(np.random.default_rng(seed).choice(len(unit), sample, replace=False))]
    kmeans = faiss.Kmeans(
        unit.shape[1], lists, niter=10, spherical=True, seed=seed, max_points_per_centroid=20, min_points_per_centroid=1
    )
    kmeans.train(rows)
    return kmeans.centroids


def _nearest_lists(unit: np.ndarray, centroids: np.ndarray, probes: int, dtype: str) -> np.ndarray:
    """Each row's `probes` most similar centroids, nearest first (rows x probes)."""
    import torch

    kind = getattr(torch, screen_dtype_and_margin(dtype)[0])
    towards = torch.from_numpy(centroids).to(kind).T
    out = np.empty((len(unit), probes), dtype=np.int64)
    for start in range(0, len(unit), ASSIGN_ROWS):
        sims = torch.from_numpy(unit[start : start + ASSIGN_ROWS]).to(kind) @ towards
        out[start : start + ASSIGN_ROWS] = torch.topk(sims, probes).indices.numpy()
    return out


def _grouped(labels: np.ndarray, lists: int, every: int = 1) -> list[np.ndarray]:
    """Row numbers per list: position i of `labels` belongs to row i // every."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(lists + 1))
    rows = order // every
    return [rows[bounds[k] : bounds[k + 1]] for k in range(lists)]


def _exact_pairs(
    unit: np.ndarray, found_a: list[np.ndarray], found_b: list[np.ndarray], threshold: float, rule: str
) -> pd.DataFrame:
    """Distinct candidate pairs (a < b, a != b), scored exactly and kept when they pass the rule (in chunks, so
    memory stays small however many candidates the screen let through)."""
    a = np.concatenate(found_a or [np.zeros(0, np.int64)]).astype(np.int64)
    b = np.concatenate(found_b or [np.zeros(0, np.int64)]).astype(np.int64)
    other = a != b
    key = np.unique(np.minimum(a, b)[other] * len(unit) + np.maximum(a, b)[other])
    del a, b, other
    kept_a, kept_b, kept_s = [], [], []
    for start in range(0, len(key), RESCORE_PAIRS):
        a, b = np.divmod(key[start : start + RESCORE_PAIRS], max(len(unit), 1))
        x, y = unit[a], unit[b]
        close = np.einsum("ij,ij->i", x, y) >= threshold - FLOAT32_MARGIN  # cheap float32 pass first
        a, b = a[close], b[close]
        score = np.einsum("ij,ij->i", x[close].astype(np.float64), y[close].astype(np.float64))
        score = snap_to_one(score, unit.shape[1])
        keep = passes_rule(score, threshold, rule)
        kept_a.append(a[keep])
        kept_b.append(b[keep])
        kept_s.append(score[keep])
    empty = [np.zeros(0, np.int64)]
    return pd.DataFrame(
        {
            "a": np.concatenate(kept_a or empty),
            "b": np.concatenate(kept_b or empty),
            "score": np.concatenate(kept_s or [np.zeros(0)]),
        }
    )
