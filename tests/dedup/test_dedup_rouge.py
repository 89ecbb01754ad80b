"""The ROUGE-L join equals brute-force rouge-score: same pairs, same floats, both rules, every scope."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest
from rouge_score import rouge_scorer

from curation.dedup import rouge, rouge_join
from curation.dedup.clusters import greedy_walk
from curation.dedup.highlight import shared_segments
from curation.dedup.scopes import SCOPES, scope_texts

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
VOCAB = [
    "write",
    "a",
    "poem",
    "story",
    "about",
    "the",
    "sea",
    "cat",
    "dog",
    "list",
    "three",
    "tips",
    "for",
    "healthy",
    "give",
    "explain",
    "why",
    "sky",
    "is",
    "blue",
]


def brute_matrix(texts: list[str]) -> np.ndarray:
    """rouge-score F of every pair i < j (target = texts[i])."""
    scores = np.zeros((len(texts), len(texts)))
    for i, j in itertools.combinations(range(len(texts)), 2):
        scores[i, j] = SCORER.score(texts[i], texts[j])["rougeL"].fmeasure
    return scores


def brute_pairs(scores: np.ndarray, threshold: float, rule: str) -> pd.DataFrame:
    hit = np.triu(scores >= threshold if rule == "ge" else scores > threshold, 1)
    a, b = np.nonzero(hit)
    return pd.DataFrame({"a": a.astype(np.int64), "b": b.astype(np.int64), "score": scores[a, b]})


def assert_same(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(found.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True)


def sentence(rng: random.Random, words: int) -> str:
    vocab = VOCAB[: rng.randint(3, len(VOCAB))]
    return " ".join(rng.choices(vocab, k=words)).capitalize() + rng.choice([".", "?", "!", ""])


def random_rows(n: int, seed: int) -> pd.DataFrame:
    """Rows with near-duplicates (edits of earlier rows) among random ones."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for _ in range(n):
        if rows and rng.random() < 0.4:
            base = dict(rng.choice(rows))
            words = base["instruction"].split()
            if words:
                words[rng.randrange(len(words))] = rng.choice(VOCAB)
            base["instruction"] = " ".join(words)
            rows.append(base)
        else:
            rows.append(
                {
                    "instruction": sentence(rng, rng.choice([1, 3, 8, 12, 20])),
                    "input": sentence(rng, rng.randint(0, 6)) if rng.random() < 0.5 else "",
                    "output": sentence(rng, rng.randint(0, 12)),
                }
            )
    return pd.DataFrame(rows)


def tie_text(shared: int, own: int, prefix: str) -> str:
    return " ".join([f"s{i}" for i in range(shared)] + [f"{prefix}{i}" for i in range(own)])


ADVERSARIAL = [
    tie_text(21, 2, "a"),  # with the next: LCS 21 of 23 and 37 tokens -> 0.6999999999999998
    tie_text(21, 16, "b"),
    tie_text(7, 3, "c"),  # with the next: exactly 0.7
    tie_text(7, 3, "d"),
    "",
    "   ...   ",
    "one",
    "ONE!",
    "one one one one one",
    "one one",
    "a b a b a b a b a b a b",
    "b a b a b a b a b a",
    "写一首关于大海的诗",
    "写一首关于大海的诗",
    "Привет мир, как дела",
    "привет МИР как дела",
    " ".join(f"w{i % 50}" for i in range(700)),
    " ".join(f"w{(i * 3) % 50}" for i in range(650)),
    " ".join(f"w{i % 50}" for i in range(690)) + " extra words here",
    "a+b=c",
    "a-b c",
]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return random_rows(240, seed=1)


@pytest.fixture(scope="module")
def scope_scores(rows: pd.DataFrame) -> dict[str, tuple[list[str], np.ndarray]]:
    out = {}
    for scope in SCOPES:
        texts = scope_texts(rows, scope)
        out[scope] = (texts, brute_matrix(texts))
    return out


@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("rule", ["ge", "gt"])
def test_random_rows_equal_brute_force(scope_scores: dict, scope: str, rule: str) -> None:
    texts, scores = scope_scores[scope]
    for threshold in (0.3, 0.5, 0.7, 0.9, 1.0):
        expected = brute_pairs(scores, threshold, rule)
        assert_same(rouge_join.find_rouge_pairs(texts, threshold, rule), expected)
    assert len(brute_pairs(scores, 0.7, rule)) > 20  # the set really has near-duplicates


@pytest.mark.parametrize("rule", ["ge", "gt"])
def test_adversarial_cases_equal_brute_force(rule: str) -> None:
    scores = brute_matrix(ADVERSARIAL)
    assert scores[0, 1] == 0.6999999999999998 and scores[2, 3] == 0.7
    for threshold in (0.1, 0.5, 0.6999999999999998, 0.7, 0.95, 1.0):
        assert_same(rouge_join.find_rouge_pairs(ADVERSARIAL, threshold, rule), brute_pairs(scores, threshold, rule))
    found = rouge_join.find_rouge_pairs(ADVERSARIAL, 0.7, rule)
    assert ((found["a"] == 0) & (found["b"] == 1)).sum() == 0  # the float tie stays below 0.7
    assert ((found["a"] == 2) & (found["b"] == 3)).sum() == (1 if rule == "ge" else 0)
    assert ((found["a"] == 12) & (found["b"] == 13)).sum() == 0  # Chinese has no rouge-score tokens


def test_every_length_band_boundary_equals_brute_force() -> None:
    rng = random.Random(5)
    lengths = [*range(1, 40), 60, 61, 64, 65, 70, 71, 90, 100, 120]
    texts = [" ".join(rng.choices(["x", "y", "z", "w"], k=n)) for n in lengths for _ in range(2)]
    scores = brute_matrix(texts)
    for threshold, rule in [(0.5, "ge"), (0.8, "gt"), (0.95, "ge")]:
        assert_same(rouge_join.find_rouge_pairs(texts, threshold, rule), brute_pairs(scores, threshold, rule))


def test_unicode_tokenizer_mode_matches_its_own_brute_force() -> None:
    texts = ["写一首关于大海的诗", "写一首关于大山的诗", "请解释天空为什么是蓝色", "Write a poem", "write a POEM!"]
    found = rouge_join.find_rouge_pairs(texts, 0.7, "ge", tokenizer="unicode")
    expected = [
        (i, j, rouge.rouge_l_tokens(rouge.tokenize_unicode(texts[i]), rouge.tokenize_unicode(texts[j])))
        for i, j in itertools.combinations(range(len(texts)), 2)
    ]
    assert list(found.itertuples(index=False, name=None)) == [e for e in expected if e[2] >= 0.7]
    assert list(zip(found["a"], found["b"], strict=True)) == [(0, 1), (3, 4)]
    assert rouge_join.find_rouge_pairs(texts, 0.7, "ge").values.tolist() == [[3, 4, 1.0]]


def test_cross_join_equals_brute_force(scope_scores: dict) -> None:
    texts, _ = scope_scores["instruction"]
    left, right = texts[:40], texts[40:]
    tok = rouge_join.tokenize_texts(left + right)
    found = rouge_join.rouge_cross_join(tok, len(left), 0.6, "ge")
    expected = sorted(
        (i, len(left) + j, rouge.rouge_l(a, b))
        for i, a in enumerate(left)
        for j, b in enumerate(right)
        if SCORER.score(a, b)["rougeL"].fmeasure >= 0.6
    )
    assert sorted(found.itertuples(index=False, name=None)) == expected


def test_min_passing_lcs_equals_a_scan() -> None:
    m, n = np.meshgrid(np.arange(1, 90), np.arange(1, 90), indexing="ij")
    for threshold in (0.3, 0.5, 0.7, 0.6999999999999998, 0.9, 1.0):
        for rule in ("ge", "gt"):
            need = rouge_join.min_passing_lcs(m, n, threshold, rule)
            for mi, ni in [(23, 37), (10, 10), (1, 1), (5, 80), (88, 89)]:
                scan = [
                    k
                    for k in range(1, min(mi, ni) + 1)
                    if rouge.passes_rule(rouge.f_measure(k, mi, ni), threshold, rule)
                ]
                assert (need[mi - 1, ni - 1] == scan[0]) if scan else need[mi - 1, ni - 1] > min(mi, ni)


def brute_greedy(texts: list[str], order: list[int], threshold: float, rule: str) -> dict[int, tuple[int, float]]:
    """Self-Instruct filter with rouge-score: dropped row -> (kept row with the highest score, that score)."""
    kept: list[int] = []
    dropped = {}
    for row in order:
        scores = [(SCORER.score(texts[min(row, k)], texts[max(row, k)])["rougeL"].fmeasure, k) for k in kept]
        hits = [(s, k) for s, k in scores if rouge.passes_rule(s, threshold, rule)]
        if hits:
            best = max(s for s, _ in hits)
            dropped[row] = (next(k for s, k in hits if s == best), best)
        else:
            kept.append(row)
    return dropped


@pytest.mark.parametrize("rule", ["ge", "gt"])
def test_greedy_walk_equals_brute_force_greedy(scope_scores: dict, rule: str) -> None:
    texts, _ = scope_scores["instruction_input"]
    texts = texts[:100] + ADVERSARIAL
    order = list(range(len(texts)))
    random.Random(3).shuffle(order)
    pairs = rouge_join.find_rouge_pairs(texts, 0.7, rule)
    dropped = greedy_walk(len(texts), pairs, np.array(order))
    expected = brute_greedy(texts, order, 0.7, rule)
    assert {r: (b, s) for r, b, s in dropped.itertuples(index=False, name=None)} == expected
    assert len(expected) > 10


def test_nearest_scores_equal_brute_force(scope_scores: dict) -> None:
    texts, scores = scope_scores["instruction"]
    full = np.maximum(scores, scores.T)
    np.fill_diagonal(full, 0.0)
    rows = np.array([0, 5, 17, 100, len(texts) - 1])
    found = rouge_join.nearest_scores(rouge_join.tokenize_texts(texts), rows)
    assert found.tolist() == full[rows].max(axis=1).tolist()


def test_highlighted_segments_are_the_lcs_tokens_and_rebuild_the_text() -> None:
    text, other = "Write a POEM about <b>the</b> sea!", "write a poem on the sea"
    segments = shared_segments(text, other)
    assert "".join(s for s, _ in segments) == text
    assert [s for s, shared in segments if shared] == ["Write", "a", "POEM", "the", "sea"]
    assert sum(shared for _, shared in segments) == rouge.lcs_length(rouge.tokenize(text), rouge.tokenize(other))
    assert [s for s, shared in shared_segments("写一首诗", "写两首诗", "unicode") if shared] == ["写", "首", "诗"]
