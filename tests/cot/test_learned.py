"""The learned CoT weights: the fit starts from the rules, recovers known weights, and leaves unseen signals alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from curation.cot import detector as cot
from curation.cot import learned


def test_fit_recovers_weights_that_generated_the_labels() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((20000, 3))
    truth_w, truth_b = np.array([3.0, 0.5, 0.0]), -1.5
    y = (rng.random(20000) < 1 / (1 + np.exp(-(x @ truth_w + truth_b)))).astype(float)
    # balanced class weights shift only the bias; compare the weights, and the bias after undoing the shift
    w, b = learned.fit(x, y, n_signals=3, strength=0.0)
    assert np.allclose(w, truth_w, atol=0.25)
    assert abs((b + math.log(y.mean() / (1 - y.mean()))) - truth_b) < 0.25


def test_a_signal_the_data_never_shows_keeps_its_rule_weight_and_weights_stay_non_negative() -> None:
    rng = np.random.default_rng(1)
    x = np.zeros((4000, 3))
    x[:, 0] = rng.random(4000)
    x[:, 1] = rng.random(4000)  # a signal that fires as often in either class, and slightly more in negatives
    y = (rng.random(4000) < 1 / (1 + np.exp(-(4 * x[:, 0] - 2 - 1.0 * x[:, 1])))).astype(float)
    w, _ = learned.fit(x, y, n_signals=3, strength=1e-3)
    assert w[2] == 1.0  # column 2 is all zeros: only the prior speaks, and it says the rule weight 1
    assert w[1] >= 0.0  # a reasoning signal may lose its weight but never count against reasoning


def test_shipped_weights_name_every_detector_signal_in_order() -> None:
    shipped = json.loads((Path(learned.__file__).parent / "weights.json").read_text())
    assert shipped["features"] == [*cot.SIGNAL_HELP, *learned.EXTRA]
    assert len(shipped["weights"]) == len(shipped["features"])
    signal_weights = shipped["weights"][: len(cot.SIGNAL_HELP)]
    assert min(signal_weights) >= 0.0


def test_a_penalty_lowers_the_score_and_a_think_trace_alone_is_reasoning() -> None:
    trace = "<think>First, 17 is odd, so it is not divisible by 2. Then 3 does not divide it.</think>\n17 is prime."
    assert cot.detect("Is 17 prime?", "", trace).score >= cot.DEFAULT_THRESHOLD
    worked = "We know 3 x 4 = 12 and 12 - 2 = 10, so 10 apples are left."
    plain = cot.detect("Tom has 3 boxes of 4 apples and eats 2. How many are left?", "", worked)
    fenced = cot.detect("Tom has 3 boxes of 4 apples and eats 2. How many are left?", "", worked + "\n```\nx = 1\n```")
    assert "code" in fenced.names() and fenced.score < plain.score
