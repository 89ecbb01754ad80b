"""Learned weights for the CoT signals: a logistic regression whose prior is the hand-set rules.

Features are the detector's explainable signals: `-log(1 - weight)` for a fired reasoning signal, `log(1 - factor)`
for a fired penalty (0 when a signal did not fire), plus the number of reasoning signals that fired and the log of
the output's word count. With every signal weight 1 and bias `-log 2` the model decides exactly as the noisy-OR
rules do before penalties, so the fit starts from the rules and L2-regularises towards them: a signal the
training data never shows (a `<think>` trace, a trigger phrase) keeps its rule weight, one the data contradicts
moves, and no reasoning signal can count against reasoning (weights >= 0). `bench/cot_learn.py` fits it on public
data and writes `weights.json` with what it was trained and checked on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

EXTRA = ("signals_fired", "log_words")


@cache
def model() -> dict[str, Any]:
    """The shipped weights: {"features": [...], "weights": [...], "bias": b, "trained_on": {...}}."""
    return json.loads(resources.files("curation.cot").joinpath("weights.json").read_text(encoding="utf-8"))


def feature_names(signal_names: Sequence[str]) -> list[str]:
    return [*signal_names, *EXTRA]


def feature_vector(
    fired: Iterable[tuple[str, float]], penalties: set[str], names: Sequence[str], words: int
) -> np.ndarray:
    """Features of one scored text from its fired (signal name, rule weight) pairs; `names` orders them."""
    index = {n: i for i, n in enumerate(names)}
    x = np.zeros(len(names) + len(EXTRA))
    for name, weight in fired:
        if name in index:
            value = math.log1p(-min(weight, 0.99))
            x[index[name]] = max(x[index[name]], -value) if name not in penalties else min(x[index[name]], value)
    x[len(names)] = sum(1 for n in names if n not in penalties and x[index[n]] > 0)
    x[len(names) + 1] = math.log1p(words)
    return x


def probability(x: np.ndarray) -> float:
    """P(reasoning) under the shipped weights."""
    m = model()
    z = float(np.dot(np.asarray(m["weights"]), x) + m["bias"])
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def contributions(fired_names: Iterable[str], x: np.ndarray) -> dict[str, float]:
    """Each fired signal's share of the log-odds (weight x feature), for explanations."""
    m = model()
    pos = {n: i for i, n in enumerate(m["features"])}
    return {n: round(float(m["weights"][pos[n]] * x[pos[n]]), 3) for n in fired_names if n in pos}


def fit(
    x: np.ndarray, y: np.ndarray, n_signals: int, strength: float, row_weight: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression, L2 towards the rules' weights (1 per signal, 0 for the extras).

    Signal weights are bounded below by 0; the bias and the extras are free; `row_weight` scales rows (e.g. the
    few hand-written examples of styles the public corpora lack). Returns (weights, bias).
    """
    from scipy.optimize import minimize

    x, y = np.asarray(x, float), np.asarray(y, float)
    k = x.shape[1]
    prior = np.array([1.0] * n_signals + [0.0] * (k - n_signals))
    rows = np.ones(len(y)) if row_weight is None else np.asarray(row_weight, float)
    positive = rows[y == 1].sum() / rows.sum()
    sample = rows * np.where(y == 1, 0.5 / positive, 0.5 / (1 - positive)) / rows.sum()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:k], theta[k]
        z = x @ w + b
        p = 1 / (1 + np.exp(-z))
        value = np.sum(sample * (np.logaddexp(0, z) - y * z)) + strength * np.sum((w - prior) ** 2)
        grad = x.T @ (sample * (p - y)) + 2 * strength * (w - prior)
        return value, np.append(grad, np.sum(sample * (p - y)))

    bounds = [(0.0, None)] * n_signals + [(None, None)] * (k - n_signals + 1)
    found = minimize(loss, np.append(prior, -math.log(2)), jac=True, method="L-BFGS-B", bounds=bounds)
    return found.x[:k], float(found.x[k])
