"""Unit vectors and exact float32 bounds shared by the exact (`embeddings`) and indexed (`index`) cosine searches."""

from __future__ import annotations

import numpy as np


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows; rows already of unit length (within 1e-5) are returned bit-for-bit unchanged."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    off = np.flatnonzero((np.abs(norms - 1) > 1e-5) & (norms > 0))
    if len(off) == 0:
        return vectors
    out = vectors.copy()
    out[off] = (vectors[off] / np.linalg.norm(vectors[off].astype(np.float64), axis=1, keepdims=True)).astype(
        np.float32
    )
    return out


def float32_slack(dim: int) -> float:
    """A bound on the rounding error of a float32 dot product of two unit vectors of this dimension."""
    return 2 * dim * 2.0**-24 + 1e-6


def snap_to_one(score: np.ndarray, dim: int) -> np.ndarray:
    """Scores within float32 rounding of 1 become exactly 1.0: identical texts have identical vectors, but the
    dot product of a float32 unit vector with itself lands at e.g. 0.99999988, so a threshold of 1.0 would miss
    them."""
    return np.where(score >= 1.0 - float32_slack(dim), 1.0, score)
