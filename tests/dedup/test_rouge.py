"""curation.dedup.rouge equals rouge-score exactly (tokens, LCS, float F-measure); RougeIndex equals brute force."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rouge_score import rouge_scorer
from rouge_score import tokenize as rs_tokenize

from curation.dedup import rouge

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
WORDS = [
    "the",
    "a",
    "of",
    "write",
    "list",
    "give",
    "three",
    "tips",
    "story",
    "poem",
    "about",
    "cat",
    "dog",
    "blue",
    "red",
    "x1",
    "2",
]


def reference(a: str, b: str) -> float:
    return SCORER.score(a, b)["rougeL"].fmeasure


def random_text(rng: random.Random, max_words: int = 30) -> str:
    words = rng.choices(WORDS, k=rng.randint(0, max_words))
    seps = rng.choices([" ", "  ", ", ", "-", "\n", "! ", "'s "], k=len(words))
    return "".join(w.upper() if rng.random() < 0.1 else w for pair in zip(words, seps, strict=True) for w in pair)


ADVERSARIAL = [
    ("", ""),
    ("", "hello"),
    ("hello", "hello"),
    ("hello", "HELLO!"),
    ("a", "b"),
    ("!!! ??? ...", "a"),
    ("a+b", "a-b"),
    ("a a a a a", "a"),
    ("a b a b a b a b", "b a b a b a"),
    ("你好世界", "你好世界"),
    ("Привет мир", "Привет мир"),
    ("İstanbul café naïve", "istanbul cafe naive"),
    ("\u212a kelvin", "k KELVIN"),
    ("x " * 400, "x " * 300 + "y " * 300),
    (" ".join(f"w{i % 37}" for i in range(500)), " ".join(f"w{(i * 7) % 37}" for i in range(450))),
]


def tie_pair(lcs: int, m: int, n: int) -> tuple[str, str]:
    """Two texts with m and n tokens whose LCS is exactly `lcs`."""
    shared = [f"s{i}" for i in range(lcs)]
    return " ".join(shared + [f"a{i}" for i in range(m - lcs)]), " ".join([f"b{i}" for i in range(n - lcs)] + shared)


def test_tokenize_equals_rouge_score_on_random_unicode() -> None:
    rng = random.Random(7)
    alphabet = "aZ09 _-+.,\n\tİıßÄäÅ\u212a\u0130ﬁ你好Ωω\u00a0é\u0301"
    for _ in range(2000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 30)))
        assert rouge.tokenize(text) == rs_tokenize.tokenize(text, None)


@pytest.mark.parametrize(("a", "b"), ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_cases_match_rouge_score(a: str, b: str) -> None:
    assert rouge.rouge_l(a, b) == reference(a, b)
    assert rouge.rouge_l(b, a) == reference(b, a)


def test_random_texts_match_rouge_score() -> None:
    rng = random.Random(11)
    for _ in range(600):
        a, b = random_text(rng), random_text(rng)
        assert rouge.rouge_l(a, b) == reference(a, b), (a, b)


def test_float_ties_are_rouge_scores_floats() -> None:
    a, b = tie_pair(21, 23, 37)
    assert reference(a, b) == 0.6999999999999998
    assert rouge.rouge_l(a, b) == 0.6999999999999998
    assert not rouge.passes_rule(rouge.rouge_l(a, b), 0.7, "ge")
    a, b = tie_pair(7, 10, 10)
    assert rouge.rouge_l(a, b) == reference(a, b) == 0.7


def test_f_measure_array_matches_scalar_and_is_increasing_in_lcs() -> None:
    m, n = np.meshgrid(np.arange(0, 120), np.arange(0, 120), indexing="ij")
    previous = np.zeros(m.shape)
    for lcs in range(1, 120):
        valid = (lcs <= m) & (lcs <= n)
        scores = rouge.f_measure_array(np.full(m.shape, lcs), m, n)
        assert (scores[valid] > previous[valid]).all()
        previous = np.where(valid, scores, previous)
    for lcs, a, b in [(21, 23, 37), (0, 5, 5), (3, 0, 4), (7, 10, 10), (1, 1, 1)]:
        assert rouge.f_measure_array(np.array([lcs]), np.array([a]), np.array([b]))[0] == rouge.f_measure(lcs, a, b)


def test_unicode_tokenizer_is_a_separate_mode() -> None:
    assert rouge.tokenize("写一首诗") == []
    assert rouge.tokenize_unicode("写一首诗 about Cats_2") == ["写", "一", "首", "诗", "about", "cats", "2"]
    assert rouge.tokenizer_for("unicode") is rouge.tokenize_unicode
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        rouge.tokenizer_for("whitespace")


def test_codec_skips_surrogate_code_points() -> None:
    codec = rouge.TokenCodec()
    codec.ids = {f"t{i}": i for i in range(0xD800)}
    assert codec.encode(["new"]) == chr(0xE000)
    assert codec.encode(["t5", "new"]) == chr(5) + chr(0xE000)


def brute_scores(pool: list[str], text: str) -> list[float]:
    return [reference(text, p) for p in pool]


def test_rouge_index_matches_brute_force() -> None:
    rng = random.Random(3)
    pool = [random_text(rng, 12) for _ in range(150)] + ["", "the cat", "the cat"]
    index = rouge.RougeIndex()
    for i, text in enumerate(pool):
        assert index.add(text) == i
    assert len(index) == len(pool)
    for _ in range(40):
        query = random_text(rng, 12)
        expected = brute_scores(pool, query)
        assert index.max_score(query) == max(expected)
        top = sorted(range(len(pool)), key=lambda i: (-expected[i], i))[:7]
        assert index.most_similar(query, k=7) == [(i, expected[i]) for i in top]
        for threshold in (0.3, 0.5, 0.7):
            assert index.passes(query, threshold, "gt") == (max(expected) <= threshold)
            assert index.passes(query, threshold, "ge") == (max(expected) < threshold)


def test_rouge_index_ties_and_edges() -> None:
    a, b = tie_pair(21, 23, 37)
    index = rouge.RougeIndex([b])
    assert index.max_score(a) == 0.6999999999999998
    assert index.passes(a, 0.7, "ge") and index.passes(a, 0.7, "gt")
    a, b = tie_pair(7, 10, 10)
    index = rouge.RougeIndex([b, b])
    assert not index.passes(a, 0.7, "ge") and index.passes(a, 0.7, "gt")
    assert index.most_similar(a, k=5) == [(0, 0.7), (1, 0.7)]
    assert rouge.RougeIndex().max_score("anything") == 0.0
    assert rouge.RougeIndex(["x"]).most_similar("", k=1) == [(0, 0.0)]
    with pytest.raises(ValueError, match="rule must be"):
        index.passes(a, 0.7, "lt")


def test_rouge_index_unicode_mode_matches_chinese() -> None:
    assert rouge.RougeIndex(["写一首诗"]).max_score("写一首诗") == 0.0
    assert rouge.RougeIndex(["写一首诗"], tokenizer="unicode").max_score("写一首诗") == 1.0
