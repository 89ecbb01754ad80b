"""Inter-annotator agreement: Cohen's kappa per annotator pair, Fleiss' kappa over rows with k responses."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd


def decision_matrix(responses: pd.DataFrame) -> pd.DataFrame:
    """Rows x annotators of decisions (NaN where an annotator did not answer)."""
    if responses.empty:
        return pd.DataFrame()
    return responses.pivot(index="example_id", columns="annotator", values="decision")


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa of two annotators on the same rows (NaN when chance agreement is 1)."""
    if len(a) == 0:
        return float("nan")
    if len(set(a) | set(b)) == 1:
        return float("nan")  # both always gave the same single label: kappa is undefined
    from sklearn.metrics import cohen_kappa_score  # here, not at import: sklearn takes seconds to load, every CLI

    return float(cohen_kappa_score(a, b))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an items x categories matrix of how many raters chose each category."""
    counts = np.asarray(counts, dtype=float)
    if counts.size == 0:
        return float("nan")
    raters = counts.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings on every row")
    n, items = raters[0], counts.shape[0]
    p_j = counts.sum(axis=0) / (items * n)
    p_i = (np.square(counts).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), np.square(p_j).sum()
    return float("nan") if p_e == 1 else float((p_bar - p_e) / (1 - p_e))


def pairwise(matrix: pd.DataFrame) -> pd.DataFrame:
    """Cohen's kappa and raw agreement for every annotator pair, on the rows both answered."""
    rows = []
    for a, b in itertools.combinations(matrix.columns, 2):
        both = matrix[[a, b]].dropna()
        rows.append(
            {
                "annotator_a": a,
                "annotator_b": b,
                "rows": len(both),
                "agreement": float((both[a] == both[b]).mean()) if len(both) else float("nan"),
                "kappa": cohen_kappa(both[a].tolist(), both[b].tolist()),
            }
        )
    return pd.DataFrame(rows, columns=["annotator_a", "annotator_b", "rows", "agreement", "kappa"])


def per_annotator(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each annotator's mean pairwise kappa with the others (weighted by shared rows)."""
    pairs = pairwise(matrix)
    out = []
    for name in matrix.columns:
        mine = pairs[(pairs.annotator_a == name) | (pairs.annotator_b == name)].dropna(subset=["kappa"])
        weights = mine["rows"].to_numpy(dtype=float)
        kappa = float(np.average(mine["kappa"], weights=weights)) if weights.sum() else float("nan")
        out.append({"annotator": name, "answered": int(matrix[name].notna().sum()), "mean_kappa": kappa})
    return pd.DataFrame(out, columns=["annotator", "answered", "mean_kappa"])


def fleiss_for(matrix: pd.DataFrame, overlap: int) -> tuple[float, int]:
    """Fleiss' kappa over the rows that have all `overlap` responses; returns (kappa, rows used)."""
    full = matrix[matrix.notna().sum(axis=1) == overlap]
    if full.empty or overlap < 2:
        return float("nan"), 0
    labels = sorted({v for v in full.to_numpy().ravel() if isinstance(v, str)})
    counts = np.stack([(full == label).sum(axis=1).to_numpy() for label in labels], axis=1)
    return fleiss_kappa(counts), len(full)


def disagreements(matrix: pd.DataFrame) -> list[int]:
    """Rows where the annotators who answered did not all decide the same."""
    return [int(i) for i, row in matrix.iterrows() if row.dropna().nunique() > 1]
