"""The Ray path (a local Ray instance, 2 CPUs) gives the same pairs as the single-machine path."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from curation.cli import app
from curation.dedup import distributed, embeddings, rouge_join

ray = pytest.importorskip("ray")
WORDS = [
    "write",
    "a",
    "short",
    "poem",
    "about",
    "the",
    "sea",
    "list",
    "three",
    "tips",
    "for",
    "sleep",
    "why",
    "explain",
    "give",
    "summary",
    "of",
    "this",
    "story",
]


def near_duplicate_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.4:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        else:
            words = rng.choices(WORDS, k=rng.randint(3, 40))
        texts.append(" ".join(words))
    return texts


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_rouge_pairs_on_ray_equal_in_process(local_ray, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = near_duplicate_texts(3000)
    expected = rouge_join.find_rouge_pairs(texts, 0.7)
    monkeypatch.setenv("INSTRUCT_CURATOR_RAY_ADDRESS", "local")
    found = rouge_join.find_rouge_pairs(texts, 0.7)
    assert len(expected) > 500
    pd.testing.assert_frame_equal(found, expected, check_exact=True)


def test_cosine_pairs_on_ray_equal_in_process(local_ray, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 64)).astype(np.float32)
    copies = rng.choice(3000, 600, replace=False)
    vectors[copies] = vectors[rng.integers(0, 3000, 600)] + rng.normal(size=(600, 64)).astype(np.float32) * 0.3
    expected = embeddings.cosine_pairs(vectors, 0.9, search="exact")
    monkeypatch.setenv("INSTRUCT_CURATOR_RAY_ADDRESS", "local")
    found = embeddings.cosine_pairs(vectors, 0.9, search="exact")
    assert len(expected) > 100
    pd.testing.assert_frame_equal(found, expected, check_exact=True)


def test_embedding_on_ray_equals_in_process(local_ray, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = near_duplicate_texts(64, seed=1)
    path = embeddings.model_dir()
    expected = embeddings.model_embedder(path, backend="torch")(texts)
    monkeypatch.setenv("INSTRUCT_CURATOR_RAY_ADDRESS", "local")
    found = embeddings.embed_in_batches(texts, embeddings.model_embedder(path, backend="torch"), None)
    assert found.shape == expected.shape
    assert np.einsum("ij,ij->i", found, expected).min() > 0.99999


def test_cli_ray_pairs_file_equals_in_process(local_ray, tmp_path: Path) -> None:
    rows = [{"instruction": t, "input": "", "output": "ok"} for t in near_duplicate_texts(400, seed=2)]
    data = tmp_path / "data.json"
    data.write_text(json.dumps(rows))
    db = tmp_path / "cli.duckdb"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", str(db), "import", str(data), "--format", "alpaca"]).exit_code == 0
    outputs = []
    for extra in ([], ["--ray", "local"]):
        out = tmp_path / f"pairs{len(outputs)}.jsonl"
        result = runner.invoke(app, ["--db", str(db), "dedup", "rouge", "--pairs-out", str(out), *extra])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") > 20


def test_missing_ray_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    with pytest.raises(RuntimeError, match=r'pip install "ray\[data\]"'):
        distributed.ray_module()
