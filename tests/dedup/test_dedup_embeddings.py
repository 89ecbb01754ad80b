"""Embedding dedup: exact pruned cosine search vs brute force, the store cache, and the real packaged model."""

from __future__ import annotations

import numpy as np
import pytest

from curation.dedup import embeddings, runs
from curation.store import dedup as dedup_store
from curation.store import revisions


def planted_vectors(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors (like sentence embeddings) with some near-copies at cosine ~0.85-0.99."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    vectors = centres[rng.integers(0, 40, n)] * 0.6 + rng.normal(size=(n, dim))
    copies = rng.choice(n, n // 10, replace=False)
    vectors[copies] = vectors[rng.integers(0, n, len(copies))] + rng.normal(size=(len(copies), dim)) * rng.uniform(
        0.1, 0.5, (len(copies), 1)
    )
    return embeddings.normalize(vectors.astype(np.float32))


def brute_cosine(vectors: np.ndarray, threshold: float, rule: str) -> set[tuple[int, int]]:
    unit = vectors.astype(np.float64)
    sims = unit @ unit.T
    hit = np.triu(sims >= threshold if rule == "ge" else sims > threshold, 1)
    return set(zip(*(x.tolist() for x in np.nonzero(hit)), strict=True))


@pytest.mark.parametrize("n", [300, 2600])  # small: direct; large: principal-axes bound prunes first
@pytest.mark.parametrize("rule", ["ge", "gt"])
def test_cosine_pairs_equal_brute_force(n: int, rule: str) -> None:
    vectors = embeddings.normalize(planted_vectors(n))  # what cosine_pairs compares
    for threshold in (0.8, 0.9, 0.95):
        found = embeddings.cosine_pairs(vectors, threshold, rule)
        expected = brute_cosine(vectors, threshold, rule)
        assert set(zip(found["a"], found["b"], strict=True)) == expected
        assert len(expected) > 10
        exact = np.einsum("ij,ij->i", vectors[found["a"]].astype(np.float64), vectors[found["b"]].astype(np.float64))
        assert np.array_equal(found["score"].to_numpy(), exact)


def test_nearest_neighbour_similarity_matches_brute_force() -> None:
    vectors = planted_vectors(500)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    np.testing.assert_allclose(embeddings.nearest_neighbour_similarity(vectors, sample=1000), sims.max(1), rtol=1e-6)
    sample = embeddings.nearest_neighbour_similarity(vectors, sample=50, seed=1)
    assert len(sample) == 50 and (np.abs(sample[:, None] - sims.max(1)[None, :]).min(axis=1) < 1e-6).all()


class CountingEmbedder:
    """A fake model: a fixed vector per text (bag of letters), counting the texts it was asked to embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += texts
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return embeddings.normalize(out + 1e-3)


ROWS = [
    {"instruction": "Write a poem about the sea."},
    {"instruction": "Write a poem about the sea!"},
    {"instruction": "Name the capital of France."},
    {"instruction": "Zebras quickly jump over xylophones"},
]


def test_second_run_embeds_only_new_or_edited_rows(make_store) -> None:
    store = make_store(ROWS)
    fake = CountingEmbedder()
    cfg = runs.DedupConfig(method="embedding", threshold=0.99)
    first = runs.run_dedup(store, cfg, embed=fake, author="t")
    assert first.embedded == 4 and len(fake.texts) == 4
    assert first.pairs[["a", "b"]].values.tolist() == [[0, 1]]
    second = runs.run_dedup(store, cfg, embed=fake, author="t")
    assert second.embedded == 0 and len(fake.texts) == 4  # all from the cache
    assert second.pairs.equals(first.pairs)
    revisions.update_example(store, 3, {"instruction": "Name the capital of Spain."}, expected_version=1, author="t")
    third = runs.run_dedup(store, cfg, embed=fake, author="t")
    assert third.embedded == 1 and fake.texts[-1] == "Name the capital of Spain."
    runs.run_dedup(store, runs.DedupConfig(method="embedding", scope="full", threshold=0.99), embed=fake, author="t")
    assert len(fake.texts) == 9  # another scope is another cache key


def test_embedding_model_setting_must_be_a_model_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_EMBEDDING_MODEL", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers folder"):
        embeddings.model_dir()


@pytest.mark.slow
def test_real_packaged_model_finds_a_paraphrase_and_reuses_the_cache(make_store) -> None:
    store = make_store(
        [
            {"instruction": "Give three tips for staying healthy."},
            {"instruction": "What are three tips to stay healthy?"},
            {"instruction": "Write a poem about the ocean."},
            {"instruction": "Convert 10 kilometers to miles."},
            {"instruction": "Describe the structure of an atom."},
        ]
    )
    model = embeddings.model_embedder(embeddings.model_dir())
    calls: list[int] = []

    def counted(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return model(texts)

    cfg = runs.DedupConfig(method="embedding")  # default threshold 0.9
    first = runs.run_dedup(store, cfg, embed=counted, author="t")
    assert first.pairs[["a", "b"]].values.tolist() == [[0, 1]]
    assert 0.9 <= first.pairs["score"].iloc[0] < 1.0
    assert calls == [5] and dedup_store.cache_size(store) == 5
    second = runs.run_dedup(store, cfg, embed=counted, author="t")
    assert calls == [5] and second.pairs.equals(first.pairs)


def test_an_interrupted_embedding_run_keeps_the_batches_it_finished(store) -> None:
    batch = runs.embeddings.EMBED_BATCH
    texts = [f"text number {i} " + "x" * (i % 7) for i in range(batch + 88)]  # two batches
    calls: list[int] = []

    def failing_on_second_batch(batch: list[str]) -> np.ndarray:
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("interrupted")
        return CountingEmbedder()(batch)

    with pytest.raises(RuntimeError, match="interrupted"):
        runs.embed_texts(store, texts, "instruction", embed=failing_on_second_batch)
    assert dedup_store.cache_size(store) == batch
    fake = CountingEmbedder()
    vectors, embedded = runs.embed_texts(store, texts, "instruction", embed=fake)
    assert embedded == 88 and len(fake.texts) == 88
    np.testing.assert_array_equal(vectors, CountingEmbedder()(texts))


def test_embedding_progress_says_the_model_is_loading_before_the_first_batch(store) -> None:
    texts = ["alpha beta", "gamma delta", "epsilon zeta"]
    runs.embed_texts(store, texts[:1], "instruction", embed=CountingEmbedder())
    said: list[str] = []
    runs.embed_texts(store, texts, "instruction", embed=CountingEmbedder(), progress=lambda f, m: said.append(m))
    model = runs.embeddings.model_dir(None).name
    assert said[0] == f"loading the embedding model {model} for 2 texts (1 cached)"
