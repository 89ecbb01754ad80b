"""Approximate candidates + exact re-scoring for cosine search over very many vectors (faiss IVF range search).

`embeddings.cosine_pairs` (exact, every pair) stays the default below EXACT_MAX_ROWS rows, where it takes seconds. Above
it, an inverted-file index with 8-bit scalar-quantised codes proposes every pair within `threshold - MARGIN`
in the `nprobe` nearest lists of each row; each candidate is then scored exactly (float64 dot product of the
unit float32 vectors, as `cosine_pairs` does) and tested with the rule, so every reported pair and score is
exact; only recall depends on the index (a pair is missed when its rows fall in lists the query did not probe).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pandas as pd

from curation.dedup.embeddings import normalize
from curation.dedup.rouge import check_rule, check_threshold, passes_rule

Progress = Callable[[float, str], None]
SEARCHES = ("auto", "exact", "index")
EXACT_MAX_ROWS = 150_000  # exact search: ~20 s at this size on 2 cores; it grows with the square of the rows
MARGIN = 0.02  # 8-bit codes move a cosine by well under this; candidates are re-scored exactly
DEFAULT_NPROBE = 24
QUERY_BLOCK = 16_384


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
    """Inverted lists for n vectors: ~4 sqrt(n), at least 1, and at least ~40 training rows per list."""
    return max(1, min(int(4 * np.sqrt(n)), n // 40))


def indexed_cosine_pairs(
    vectors: np.ndarray,
    threshold: float = 0.9,
    rule: str = "ge",
    progress: Progress | None = None,
    nprobe: int = DEFAULT_NPROBE,
    seed: int = 0,
) -> pd.DataFrame:
    """Index candidates, exact scores: columns a, b, score (like `cosine_pairs`)."""
    import faiss

    check_threshold(threshold)
    check_rule(rule)
    unit = np.ascontiguousarray(normalize(vectors))
    n, dim = unit.shape
    faiss.omp_set_num_threads(os.cpu_count() or 2)
    lists = n_lists(n)
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim), dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    rng = np.random.default_rng(seed)
    train = unit[np.sort(rng.choice(n, min(n, lists * 64), replace=False))]
    index.cp.seed = seed
    index.train(train)
    index.add(unit)
    index.nprobe = min(nprobe, lists)
    found_a, found_b, found_s = [], [], []
    for start in range(0, n, QUERY_BLOCK):
        block = unit[start : start + QUERY_BLOCK]
        limits, _, labels = index.range_search(block, threshold - MARGIN)
        a = np.repeat(np.arange(start, start + len(block), dtype=np.int64), np.diff(limits).astype(np.int64))
        b = labels.astype(np.int64)
        other = a != b  # both rows of a pair query, so a pair is missed only when both searches miss it
        pair_a, pair_b = np.minimum(a, b)[other], np.maximum(a, b)[other]
        score = np.einsum("ij,ij->i", unit[pair_a].astype(np.float64), unit[pair_b].astype(np.float64))
        keep = passes_rule(score, threshold, rule)
        found_a.append(pair_a[keep])
        found_b.append(pair_b[keep])
        found_s.append(score[keep])
        if progress:
            done = min(start + QUERY_BLOCK, n)
            progress(done / n, f"searched {done:,}/{n:,} rows in the index")
    frame = pd.DataFrame(
        {
            "a": np.concatenate(found_a or [np.zeros(0, np.int64)]),
            "b": np.concatenate(found_b or [np.zeros(0, np.int64)]),
            "score": np.concatenate(found_s or [np.zeros(0)]),
        }
    )
    frame = frame.drop_duplicates(["a", "b"])
    return frame.sort_values(["a", "b"], kind="stable").reset_index(drop=True)
