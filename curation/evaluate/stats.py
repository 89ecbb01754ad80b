"""Honest numbers: accuracy with a seeded bootstrap 95% interval, paired bootstrap differences, seed summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
SEED = 0
_CHUNK = 2_000_000  # resampled indices per block: bounded memory for large item sets


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval."""

    value: float
    lo: float
    hi: float
    n: int

    def as_list(self) -> list[float]:
        return [self.lo, self.hi]


@dataclass(frozen=True)
class Difference:
    """Paired difference b - a on the same items, its interval and two-sided bootstrap p-value."""

    diff: float
    lo: float
    hi: float
    p_value: float
    n: int

    @property
    def significant(self) -> bool:
        return not (self.lo <= 0.0 <= self.hi)

    def describe(self, a: str = "A", b: str = "B") -> str:
        """One line: the difference, its interval and p; 'no significant difference' when the CI contains 0."""
        text = (
            f"{b} - {a} = {self.diff:+.3f} (95% CI {self.lo:+.3f} to {self.hi:+.3f}, p = {self.p_value:.3g}, "
            f"n = {self.n})"
        )
        return text + (": no significant difference" if not self.significant else "")


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` resamples (with replacement, seeded) of the rows of `values`."""
    rng = np.random.default_rng(seed)
    n = len(values)
    per_block = max(1, _CHUNK // max(n, 1))
    means = []
    for start in range(0, resamples, per_block):
        idx = rng.integers(0, n, size=(min(per_block, resamples - start), n))
        means.append(values[idx].mean(axis=1))
    return np.concatenate(means)


def _check(resamples: int, n: int) -> None:
    if resamples < 1000:
        raise ValueError(f"resamples must be at least 1000 for a 95% interval; got {resamples}")
    if n == 0:
        raise ValueError("no items: accuracy needs at least one scored item")


def accuracy(correct: Sequence[bool], resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95) -> Interval:
    """Accuracy and its percentile-bootstrap interval."""
    values = np.asarray(correct, dtype=float)
    _check(resamples, len(values))
    means = _bootstrap_means(values, resamples, seed)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return Interval(float(values.mean()), float(lo), float(hi), len(values))


def paired_difference(
    a: Sequence[bool], b: Sequence[bool], resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95
) -> Difference:
    """accuracy(b) - accuracy(a) on the same items, resampling items (pairs) together."""
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs the same items: {len(a)} vs {len(b)} results")
    delta = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    _check(resamples, len(delta))
    means = _bootstrap_means(delta, resamples, seed)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    # two-sided: how often the resampled difference falls on the other side of 0 (add-one so p is never 0)
    below, above = int((means <= 0).sum()), int((means >= 0).sum())
    p = min(1.0, 2 * (min(below, above) + 1) / (len(means) + 1))
    return Difference(float(delta.mean()), float(lo), float(hi), p, len(delta))


def seeds_summary(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample sd) over training seeds; sd is 0 for a single seed."""
    if not values:
        raise ValueError("no seeds to summarise")
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def format_interval(iv: Interval) -> str:
    return f"{iv.value:.3f} [{iv.lo:.3f}, {iv.hi:.3f}]"
