"""Fast sentence embeddings: the local sentence-transformers model exported once to ONNX with ONNX Runtime's
BERT fusions (attention, GELU, layer norms), cached under `cache_dir`, and run with ONNX Runtime on CPU; on a
CUDA GPU the PyTorch model runs in fp16 instead.

'auto' uses the fused fp32 model ('onnx', cosine >= 0.99999 against sentence-transformers). Dynamic int8 weights
('onnx-int8', opt-in) are faster still but move MiniLM's vectors to cosine ~0.98-0.99 of fp32 (measured on
Alpaca instructions), below the 0.999 that keeps dedup pairs stable, so they are never chosen automatically.

Only mean-pooled, normalised BERT-style models (all-MiniLM-L6-v2 and its kin) are exported; any other model,
or a machine without onnxruntime, uses sentence-transformers unchanged (`backend_for` says which and why).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from curation import config

BACKENDS = ("auto", "onnx-int8", "onnx", "torch", "cuda-fp16")
BATCH_SIZE = 64
EXPORT_VERSION = "2"  # bump when the export recipe changes, so old cached files are not reused


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def exportable(model_path: Path) -> bool:
    """Whether the folder is a BERT-style transformer + mean pooling + normalise (what the export reproduces)."""
    try:
        modules = json.loads((model_path / "modules.json").read_text())
        pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
        model_type = json.loads((model_path / "config.json").read_text()).get("model_type")
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
    )
    return kinds == ["Transformer", "Pooling", "Normalize"] and bool(mean_only) and model_type == "bert"


def backend_for(model_path: Path, requested: str = "auto") -> str:
    """The backend that will run: 'auto' picks cuda-fp16 on a GPU, else onnx when possible, else torch."""
    if requested not in BACKENDS:
        raise ValueError(f"embedding backend must be one of {BACKENDS}; got {requested!r}")
    if requested == "cuda-fp16" and not cuda_available():
        raise RuntimeError("embedding backend cuda-fp16 needs a CUDA GPU; none is visible")
    if requested != "auto":
        if requested.startswith("onnx") and not onnxruntime_available():
            raise RuntimeError("onnxruntime is not installed: pip install onnxruntime onnx (or use backend 'torch')")
        if requested.startswith("onnx") and not exportable(model_path):
            raise ValueError(f"{model_path} is not a mean-pooled BERT model; only backend 'torch' can run it")
        return requested
    if cuda_available():
        return "cuda-fp16"
    if onnxruntime_available() and exportable(model_path):
        return "onnx"
    return "torch"


def onnx_file(model_path: Path, quantized: bool) -> Path:
    """Where the exported model of this folder lives in the cache (keyed by the folder's weights)."""
    weights = sorted(model_path.glob("*.safetensors")) or sorted(model_path.glob("*.bin"))
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    for path in weights:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    folder = config.get_path("cache_dir") / "onnx" / f"{model_path.name}-{digest.hexdigest()[:16]}"
    return folder / ("model-int8.onnx" if quantized else "model.onnx")


def build_onnx(model_path: Path, quantized: bool) -> Path:
    """Export (once) the model to ONNX with pooling and normalisation inside, fuse attention, quantise weights."""
    target = onnx_file(model_path, quantized)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx"
        _export(model_path, raw)
        _fuse(raw, fused, json.loads((model_path / "config.json").read_text()))
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            staged = Path(tmp) / "int8.onnx"
            quantize_dynamic(
                fused,
                staged,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],  # not the fused attention nor the embedding table
                nodes_to_exclude=_ffn_down_projections(fused),  # their inputs (after GELU) quantise worst
                extra_options=_QUANT_OPTIONS,
            )
        else:
            staged = fused
        os.replace(staged, target)  # atomic: a half-built file is never picked up
    return target


_QUANT_OPTIONS: dict[str, Any] = {"DefaultTensorType": 1}  # onnx.TensorProto.FLOAT for fused-op outputs


def _ffn_down_projections(model_file: Path) -> list[str]:
    import onnx

    nodes = onnx.load(str(model_file), load_external_data=False).graph.node
    return [n.name for n in nodes if n.op_type == "MatMul" and "output/dense" in n.name and "attention" not in n.name]


def _export(model_path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager", local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
    sample = tokenizer(["an example sentence", "another"], padding=True, return_tensors="pt")

    class Pooled(torch.nn.Module):  # explicit keyword inputs: the legacy exporter mis-binds transformers 5 kwargs
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    with torch.no_grad():
        torch.onnx.export(
            Pooled(),
            (sample["input_ids"], sample["attention_mask"]),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes=axes | {"embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def _fuse(raw: Path, out: Path, model_config: dict[str, Any]) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    heads, hidden = int(model_config["num_attention_heads"]), int(model_config["hidden_size"])
    optimized = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden)
    optimized.save_model_to_file(str(out))


class OnnxEmbedder:
    """texts -> unit float32 vectors with ONNX Runtime; batches are formed from length-sorted texts."""

    def __init__(self, model_path: Path, quantized: bool = True, batch_size: int = BATCH_SIZE) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 2
        self.session = ort.InferenceSession(
            str(build_onnx(model_path, quantized)), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        self.max_length = _max_seq_length(model_path)
        self.batch_size = batch_size

    def __call__(self, texts: list[str]) -> np.ndarray:
        order = np.argsort([len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(texts), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
            vectors = self.session.run(None, feed)[0]
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[chunk] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _max_seq_length(model_path: Path) -> int:
    try:
        return int(json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


@functools.lru_cache(maxsize=4)
def onnx_embedder(model_path: str, quantized: bool) -> OnnxEmbedder:
    """One ONNX Runtime session per model and precision per process."""
    return OnnxEmbedder(Path(model_path), quantized)
