"""The ROUGE-L join has no vocabulary cliff: more distinct tokens than characters still gives rouge-score's pairs."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer, tokenize

from curation.dedup import rouge_join
from curation.dedup.rouge_tokens import rouge_token_ids

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
WORDS = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(60)]


def near_duplicates(n: int, seed: int) -> list[str]:
    """Short texts over a 60-word vocabulary, half of them edits of an earlier text, so many pairs score high."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.5:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
        texts.append(" ".join(words))
    return texts


def brute_pairs(texts: list[str], threshold: float) -> pd.DataFrame:
    found = []
    for i, j in itertools.combinations(range(len(texts)), 2):
        score = SCORER.score(texts[i], texts[j])["rougeL"].fmeasure
        if score >= threshold:
            found.append((i, j, score))
    frame = pd.DataFrame(found, columns=["a", "b", "score"])
    return frame.astype({"a": np.int64, "b": np.int64, "score": np.float64})


def test_more_distinct_tokens_than_characters_still_finds_every_pair() -> None:
    """Regression: over ~1.1M distinct tokens the join used to refuse ('split the data into parts')."""
    small = near_duplicates(40, seed=1)
    filler = [" ".join(f"u{i}x{j}" for j in range(200)) for i in range(5_700)]  # 1.14M tokens, each in one text
    texts = small + filler
    assert len({tok for t in filler for tok in t.split()}) > rouge_join.MAX_CODES
    found = rouge_join.find_rouge_pairs(texts, 0.5)
    pd.testing.assert_frame_equal(found, brute_pairs(small, 0.5), check_exact=True)


def test_shared_vocabulary_beyond_the_limit_is_encoded_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """When even the tokens that texts share exceed the characters, pairs are scored in vocabulary-safe batches."""
    monkeypatch.setattr(rouge_join, "MAX_CODES", 30)
    texts = near_duplicates(150, seed=2)
    tok = rouge_join.tokenize_texts(texts)
    assert tok.encoded is None
    for threshold in (0.4, 0.7):
        found = rouge_join.rouge_self_join(tok, threshold, "ge")
        pd.testing.assert_frame_equal(found, brute_pairs(texts, threshold), check_exact=True)


def test_nearest_scores_without_a_global_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = near_duplicates(80, seed=3)
    rows = np.arange(0, 80, 7)
    expected = [max(SCORER.score(texts[r], texts[o])["rougeL"].fmeasure for o in range(80) if o != r) for r in rows]
    monkeypatch.setattr(rouge_join, "MAX_CODES", 30)
    tok = rouge_join.tokenize_texts(texts)
    assert tok.encoded is None
    np.testing.assert_array_equal(rouge_join.nearest_scores(tok, rows, block=5), expected)


def test_tokens_found_in_one_text_are_left_out_of_the_strings() -> None:
    tok = rouge_join.tokenize_texts(["alpha beta gamma", "beta delta alpha", "epsilon"])
    assert [len(s) for s in tok.encoded] == [2, 2, 0]
    assert tok.lengths.tolist() == [3, 3, 1]


TRICKY = ["abc", "def", "İstanbul KELVIN \u212a", "straße ǅ", "a\U0001f600b", "x\ud800y", "", "  ", "A1-b2_c3", "é9"]


@given(st.lists(st.text(alphabet=st.sampled_from(list("aZ9 -_\u212a\u0130ßé\U0001f600\ud800\n")), max_size=12)))
@settings(max_examples=200, deadline=None)
def test_bulk_tokeniser_equals_rouge_score(texts: list[str]) -> None:
    """rouge_token_ids gives rouge-score's tokens for any text (no run crosses into the next text)."""
    for batch in (texts, TRICKY):
        ids, lengths = rouge_token_ids(batch)
        expected = [tokenize.tokenize(t, None) for t in batch]
        assert lengths.tolist() == [len(e) for e in expected]
        flat = [tok for e in expected for tok in e]
        first_seen = {tok: i for i, tok in reversed(list(enumerate(dict.fromkeys(flat))))}
        assert ids.tolist() == [first_seen[tok] for tok in flat]


@given(
    st.lists(st.text(alphabet=st.sampled_from(list("aZ9 -_\u212a\u0130ßé\U0001f600\nÀ")), max_size=12), max_size=20),
    st.integers(0, 3),
)
@settings(max_examples=200, deadline=None)
def test_an_arrow_column_tokenises_as_python_strings_do(texts: list[str], skip: int) -> None:
    """Texts read from the store as an Arrow column (a slice of one too) give the tokens of their Python strings:
    ASCII texts are lowered by Arrow, the rest by str.lower (which e.g. turns 'İ' into 'i' + a combining dot)."""
    column = pa.array(["Zz 9", None, "ÀB", *texts]).slice(3 - min(skip, 3))
    listed = ["" if t is None else t for t in column.to_pylist()]
    ids, lengths = rouge_token_ids(column)
    want_ids, want_lengths = rouge_token_ids(listed)
    assert ids.tolist() == want_ids.tolist() and lengths.tolist() == want_lengths.tolist()


def test_nearest_scores_among_a_sample_of_others_and_exact_where_the_join_found_a_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from curation.dedup import runs

    texts = near_duplicates(80, seed=5)
    rows, others = np.arange(0, 80, 9), np.arange(0, 80, 3)
    score = [[SCORER.score(texts[r], texts[o])["rougeL"].fmeasure for o in range(80)] for r in rows]
    tok = rouge_join.tokenize_texts(texts)
    expected = [max(s[o] for o in others if o != r) for r, s in zip(rows, score, strict=True)]
    np.testing.assert_array_equal(rouge_join.nearest_scores(tok, rows, others), expected)
    # A run's histogram: sampled rows against NEAREST_OTHERS others, raised to the exact best where the join found
    # a pair, so every value at or above the threshold is the true nearest neighbour's score.
    monkeypatch.setattr(runs, "NEAREST_OTHERS", 10)
    monkeypatch.setattr(runs, "HISTOGRAM_SAMPLE", {"rouge": 30})
    cfg = runs.DedupConfig(threshold=0.6)
    _, _, nearest = runs.find_pairs(None, cfg, texts)
    sample = runs.histogram_rows(80, 30)
    exact = np.array(
        [max(SCORER.score(texts[r], texts[o])["rougeL"].fmeasure for o in range(80) if o != r) for r in sample]
    )
    passing = exact >= 0.6
    assert passing.sum() > 5 and (~passing).sum() > 5
    np.testing.assert_array_equal(nearest[passing], exact[passing])
    assert (nearest[~passing] <= exact[~passing]).all()
