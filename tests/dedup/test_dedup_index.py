"""Index search: exact scores, no pair outside the exact answer, recall >= 0.99; exact search stays the default."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from curation.dedup import embeddings, index

pytest.importorskip("faiss")


def planted_vectors(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors with groups of near-copies (cosine ~0.85-0.99), like sentence embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, dim))
    vectors = centres[rng.integers(0, 200, n)] * 0.5 + rng.normal(size=(n, dim))
    copies = rng.choice(n, n // 5, replace=False)
    noise = rng.normal(size=(len(copies), dim)) * rng.uniform(0.1, 0.5, (len(copies), 1))
    vectors[copies] = vectors[rng.integers(0, n, len(copies))] + noise
    return embeddings.normalize(vectors.astype(np.float32))


def brute_pairs(vectors: np.ndarray, threshold: float, rule: str) -> pd.DataFrame:
    unit = vectors.astype(np.float64)
    sims = unit @ unit.T
    a, b = np.nonzero(np.triu(sims >= threshold if rule == "ge" else sims > threshold, 1))
    score = np.einsum("ij,ij->i", unit[a], unit[b])
    return pd.DataFrame({"a": a.astype(np.int64), "b": b.astype(np.int64), "score": score})


@pytest.mark.parametrize(("rule", "dtype"), [("ge", "auto"), ("gt", "auto"), ("ge", "float32")])
def test_index_pairs_are_exact_and_recall_the_exact_search(rule: str, dtype: str) -> None:
    vectors = planted_vectors(4_000)
    for threshold in (0.8, 0.9):
        exact = brute_pairs(vectors, threshold, rule)
        found = index.indexed_cosine_pairs(vectors, threshold, rule, dtype=dtype)
        exact_set = set(zip(exact["a"], exact["b"], strict=True))
        found_set = set(zip(found["a"], found["b"], strict=True))
        assert len(exact_set) > 100
        assert found_set <= exact_set
        assert len(found_set) >= 0.99 * len(exact_set)
        merged = found.merge(exact, on=["a", "b"], suffixes=("", "_exact"))
        assert np.array_equal(merged["score"].to_numpy(), merged["score_exact"].to_numpy())
        assert (found["a"] < found["b"]).all() and not found.duplicated(["a", "b"]).any()


def test_exact_search_is_the_default_below_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert index.search_for(index.EXACT_MAX_ROWS) == "exact"
    assert index.search_for(index.EXACT_MAX_ROWS + 1) == "index"
    assert index.search_for(10, "index") == "index"
    with pytest.raises(ValueError, match="search must be one of"):
        index.search_for(10, "fast")
    vectors = planted_vectors(2_000)
    monkeypatch.setattr(index, "EXACT_MAX_ROWS", 1_000)
    via_index = embeddings.cosine_pairs(vectors, 0.9)
    exact = brute_pairs(vectors, 0.9, "ge")
    assert len(embeddings.cosine_pairs(vectors, 0.9, search="exact")) == len(exact)
    assert len(via_index) > 50
    assert set(zip(via_index["a"], via_index["b"], strict=True)) <= set(zip(exact["a"], exact["b"], strict=True))


def test_missing_faiss_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "faiss_available", lambda: False)
    assert index.search_for(10**7) == "exact"
    with pytest.raises(RuntimeError, match="pip install faiss-cpu"):
        index.search_for(10, "index")


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float32, (2, 384), elements=st.floats(-1, 1, width=32)),
    st.sampled_from([1.0, 1e-3, 1e3]),
)
def test_the_bf16_screen_never_moves_a_cosine_by_its_margin(pair: np.ndarray, scale: float) -> None:
    """The candidate screen's bound: a bf16 matrix product of two unit vectors is within BF16_MARGIN of the float64
    dot product (else a pair that passes could be dropped before it is scored exactly)."""
    unit = embeddings.normalize(pair * np.float32(scale))
    assume_unit = np.linalg.norm(unit.astype(np.float64), axis=1)
    if not np.allclose(assume_unit, 1, atol=1e-5):
        return
    screened = (torch.from_numpy(unit[:1]).bfloat16() @ torch.from_numpy(unit[1:]).bfloat16().T).float().item()
    exact = float(unit[0].astype(np.float64) @ unit[1].astype(np.float64))
    assert abs(screened - exact) <= index.BF16_MARGIN
