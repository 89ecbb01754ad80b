"""Fast embeddings: the exported packaged model (OpenVINO bf16, ONNX Runtime fp32 / int8) matches
sentence-transformers fp32, is built once and cached; backends are chosen and refused clearly; CUDA fp16 is checked
only where a GPU exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from curation.dedup import embeddings, encoder

pytest.importorskip("onnxruntime")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def sample_texts(n: int = 48) -> list[str]:
    texts = []
    for path in sorted(SAMPLE.glob("*.json*")):
        raw = path.read_text(encoding="utf-8")
        rows = json.loads(raw) if path.suffix == ".json" else [json.loads(line) for line in raw.splitlines() if line]
        texts += [r["instruction"] for r in rows if isinstance(r, dict) and r.get("instruction")]
    assert len(texts) >= n
    return [*texts[:n], "", "x" * 3000]  # an empty text and one past the 256-token limit


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


BF16 = pytest.param(
    "openvino-bf16",
    0.999,
    marks=pytest.mark.skipif(not encoder.cpu_has_bf16(), reason="needs openvino and a CPU with bf16 units"),
)


@pytest.mark.parametrize(("backend", "cosine"), [BF16, ("onnx", 0.999), ("onnx-int8", 0.95)])
def test_exported_vectors_match_fp32(backend: str, cosine: float, cache_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_CACHE_DIR", str(cache_dir))
    path = embeddings.model_dir()
    texts = sample_texts()
    reference = embeddings.model_embedder(path, backend="torch")(texts)
    fast = embeddings.model_embedder(path, backend=backend)(texts)
    assert fast.shape == reference.shape and fast.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert np.einsum("ij,ij->i", fast, reference).min() >= cosine  # int8: lower fidelity, opt-in only
    built = encoder.onnx_file(path, backend)
    assert built.parent.parent == cache_dir / "onnx" and built.exists()
    before = built.stat().st_mtime_ns
    assert encoder.build_onnx(path, backend) == built  # cached: not rebuilt
    assert built.stat().st_mtime_ns == before


def test_vectors_of_each_backend_are_cached_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    path = embeddings.model_dir()
    assert embeddings.model_key(path, "torch") == f"{path.name}@{path.resolve()}"  # existing caches stay valid
    assert embeddings.model_key(path, "onnx-int8").endswith("#onnx-int8")
    assert embeddings.model_key(path, "onnx").endswith("#onnx")
    monkeypatch.setattr(encoder, "cpu_has_bf16", lambda: True)
    assert embeddings.model_key(path, "openvino-bf16").endswith("#openvino-bf16")


def test_backend_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = embeddings.model_dir()
    monkeypatch.setattr(encoder, "cuda_available", lambda: False)
    monkeypatch.setattr(encoder, "cpu_has_bf16", lambda: True)
    assert encoder.backend_for(path) == "openvino-bf16"
    monkeypatch.setattr(encoder, "cpu_has_bf16", lambda: False)
    assert encoder.backend_for(path) == "onnx"  # int8 is opt-in: it does not keep cosine >= 0.999
    if encoder.openvino_available():  # never a silent fallback to fp32 when bf16 was asked for
        with pytest.raises(RuntimeError, match="needs a CPU with bf16 units"):
            encoder.backend_for(path, "openvino-bf16")
    monkeypatch.setattr(encoder, "openvino_available", lambda: False)
    with pytest.raises(RuntimeError, match="pip install openvino"):
        encoder.backend_for(path, "openvino-bf16")
    assert encoder.backend_for(path, "torch") == "torch"
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        encoder.backend_for(path, "cuda-fp16")
    with pytest.raises(ValueError, match="must be one of"):
        encoder.backend_for(path, "tpu")
    other = tmp_path / "other"
    other.mkdir()
    (other / "modules.json").write_text(json.dumps([{"type": "sentence_transformers.models.Transformer"}]))
    assert encoder.backend_for(other) == "torch"  # not a mean-pooled BERT: never exported
    with pytest.raises(ValueError, match="only backend 'torch'"):
        encoder.backend_for(other, "onnx")
    monkeypatch.setattr(encoder, "onnxruntime_available", lambda: False)
    assert encoder.backend_for(path) == "torch"
    with pytest.raises(RuntimeError, match="pip install onnxruntime"):
        encoder.backend_for(path, "onnx-int8")
    monkeypatch.setattr(encoder, "cuda_available", lambda: True)
    assert encoder.backend_for(path) == "cuda-fp16"


@pytest.mark.skipif(not encoder.cuda_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_matches_cpu_fp32() -> None:
    path = embeddings.model_dir()
    texts = sample_texts()
    gpu = embeddings.model_embedder(path, backend="cuda-fp16")(texts)
    cpu = embeddings.model_embedder(path, backend="torch")(texts)
    assert np.einsum("ij,ij->i", gpu, cpu).min() >= 0.999
