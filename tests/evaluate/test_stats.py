"""Bootstrap intervals against closed-form binomial intervals; the paired test on known discordant counts."""

from __future__ import annotations

import math

import pytest

from curation.evaluate import stats


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(3000, 5000), (4500, 5000), (1200, 2000)])
def test_accuracy_interval_matches_the_wilson_interval_on_large_n(k, n) -> None:
    correct = [True] * k + [False] * (n - k)
    iv = stats.accuracy(correct)
    lo, hi = wilson(k, n)
    assert iv.value == k / n
    assert iv.lo == pytest.approx(lo, abs=0.003)
    assert iv.hi == pytest.approx(hi, abs=0.003)


def test_the_interval_is_seeded_and_needs_enough_resamples() -> None:
    data = [True, False, True, True, False] * 40
    assert stats.accuracy(data, seed=3) == stats.accuracy(data, seed=3)
    assert stats.accuracy(data, seed=3) != stats.accuracy(data, seed=4)
    with pytest.raises(ValueError, match="resamples must be at least 1000"):
        stats.accuracy(data, resamples=100)
    with pytest.raises(ValueError, match="no items"):
        stats.accuracy([])


def _paired(n: int, only_b: int, only_a: int, both: int) -> tuple[list[bool], list[bool]]:
    """Results where b alone is right on only_b items, a alone on only_a, both on `both`, neither on the rest."""
    a = [False] * only_b + [True] * only_a + [True] * both
    b = [True] * only_b + [False] * only_a + [True] * both
    rest = n - len(a)
    return a + [False] * rest, b + [False] * rest


def test_paired_difference_matches_the_normal_approximation_and_mcnemar() -> None:
    a, b = _paired(1000, only_b=60, only_a=20, both=500)
    d = stats.paired_difference(a, b)
    se = math.sqrt(80 - 40**2 / 1000) / 1000  # sd of per-item differences / sqrt(n)
    assert d.diff == pytest.approx(0.04)
    assert d.lo == pytest.approx(0.04 - 1.96 * se, abs=0.003)
    assert d.hi == pytest.approx(0.04 + 1.96 * se, abs=0.003)
    assert d.significant and d.p_value < 0.01  # McNemar: z = 40 / sqrt(80) = 4.47, p ~ 8e-6
    assert "no significant difference" not in d.describe("base", "tuned")
    assert d.describe("base", "tuned").startswith("tuned - base = +0.040 (95% CI +0.02")


def test_equal_discordant_counts_give_no_significant_difference() -> None:
    a, b = _paired(400, only_b=30, only_a=30, both=200)
    d = stats.paired_difference(a, b)
    assert d.diff == 0.0 and d.lo < 0 < d.hi and not d.significant
    assert d.p_value > 0.5
    assert d.describe().endswith(": no significant difference")


def test_paired_needs_the_same_items() -> None:
    with pytest.raises(ValueError, match="same items: 2 vs 3"):
        stats.paired_difference([True, False], [True, True, False])


def test_seed_summary_is_mean_and_sample_sd() -> None:
    assert stats.seeds_summary([0.5, 0.7]) == pytest.approx((0.6, math.sqrt(0.02)))
    assert stats.seeds_summary([0.4]) == (0.4, 0.0)
