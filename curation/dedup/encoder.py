"""Fast sentence embeddings: the local sentence-transformers model exported once to ONNX (pooling and
normalisation inside), cached under `cache_dir`, and run on CPU by OpenVINO in bf16 ('openvino-bf16', on CPUs with
bf16 units) or by ONNX Runtime with its BERT fusions ('onnx' fp32, 'onnx-int8'); on a CUDA GPU the PyTorch model
runs in fp16 instead.

'auto' picks cuda-fp16 on a GPU, else openvino-bf16 where the CPU has bf16 units (AMX / AVX-512 BF16), else onnx,
else plain sentence-transformers ('torch'). bench/dedup_bench.py measures each against bare
SentenceTransformer.encode: speed, cosine to the fp32 vectors and changed dedup pairs. Dynamic int8 weights
('onnx-int8', opt-in) move MiniLM's vectors to cosine ~0.98-0.99 of fp32 (measured on Alpaca instructions),
below the 0.999 that keeps dedup pairs stable, so they are never chosen automatically.

Only mean-pooled, normalised BERT-style models (all-MiniLM-L6-v2 and its kin) are exported; any other model,
or a machine without onnxruntime, uses sentence-transformers unchanged (`backend_for` says which and why).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from curation import config

BACKENDS = ("auto", "openvino-bf16", "onnx", "onnx-int8", "torch", "cuda-fp16")
BATCH_SIZE = 64
EXPORT_VERSION = "2"  # bump when the export recipe changes, so old cached files are not reused
VARIANTS = {"openvino-bf16": "model-plain.onnx", "onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU; on Linux without an NVIDIA driver, answered without importing torch (which
    takes seconds of every CPU run's start)."""
    driver = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg")  # dxg: WSL's GPU bridge
    if sys.platform == "linux" and "torch" not in sys.modules and not any(Path(p).exists() for p in driver):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def onnxruntime_available() -> bool:
    """Whether onnxruntime is installed (looked up, not imported: a run imports it when it starts the model)."""
    return importlib.util.find_spec("onnxruntime") is not None


def openvino_available() -> bool:
    """Whether openvino is installed (looked up, not imported)."""
    return importlib.util.find_spec("openvino") is not None


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether OpenVINO computes bf16 natively on this CPU (AMX or AVX-512 BF16 units)."""
    if not openvino_available():
        return False
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def physical_cores() -> int:
    """Cores, not hyper-threads: two inference threads on one core only contend."""
    try:
        import psutil

        return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)
    except ImportError:
        return os.cpu_count() or 1


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
    """The backend that will run: 'auto' picks cuda-fp16 on a GPU, else openvino-bf16 (CPU with bf16 units), onnx
    or torch, whichever is installed and can run the model; an explicit choice that cannot run is an error, never
    silently replaced by another."""
    if requested not in BACKENDS:
        raise ValueError(f"embedding backend must be one of {BACKENDS}; got {requested!r}")
    if requested == "cuda-fp16" and not cuda_available():
        raise RuntimeError("embedding backend cuda-fp16 needs a CUDA GPU; none is visible")
    if requested == "openvino-bf16" and openvino_available() and not cpu_has_bf16():
        raise RuntimeError("embedding backend openvino-bf16 needs a CPU with bf16 units (AMX / AVX-512 BF16)")
    if requested != "auto":
        if requested in VARIANTS:
            _check_exportable(model_path, requested)
        return requested
    if cuda_available():
        return "cuda-fp16"
    if not exportable(model_path) or not onnx_export_available():
        return "torch"
    if cpu_has_bf16():
        return "openvino-bf16"
    return "onnx"


def _check_exportable(model_path: Path, backend: str) -> None:
    if not onnx_export_available():
        raise RuntimeError("onnxruntime or onnx is not installed: pip install onnxruntime onnx (or backend 'torch')")
    if backend == "openvino-bf16" and not openvino_available():
        raise RuntimeError("openvino is not installed: pip install openvino (or use backend 'onnx')")
    if not exportable(model_path):
        raise ValueError(f"{model_path} is not a mean-pooled BERT model; only backend 'torch' can run it")


def onnx_export_available() -> bool:
    """The export itself needs onnx and onnxruntime's optimizer tools (also for the OpenVINO backend); looked up
    without importing them (the export imports them when it runs)."""
    return importlib.util.find_spec("onnx") is not None and onnxruntime_available()


def onnx_file(model_path: Path, backend: str) -> Path:
    """Where the exported model of this folder for this backend lives in the cache (keyed by the weights)."""
    weights = sorted(model_path.glob("*.safetensors")) or sorted(model_path.glob("*.bin"))
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    for path in weights:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    folder = config.get_path("cache_dir") / "onnx" / f"{model_path.name}-{digest.hexdigest()[:16]}"
    return folder / VARIANTS[backend]


def build_onnx(model_path: Path, backend: str) -> Path:
    """Export (once) the model to ONNX with pooling and normalisation inside; for ONNX Runtime also fuse
    attention, and for onnx-int8 quantise the weights. OpenVINO reads the plain export (it fuses on its own)."""
    target = onnx_file(model_path, backend)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx"
        _export(model_path, raw)
        staged = raw
        if backend != "openvino-bf16":
            _fuse(raw, fused, json.loads((model_path / "config.json").read_text()))
            staged = fused
        if backend == "onnx-int8":
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


class SortedBatchEmbedder:
    """texts -> unit float32 vectors from an exported model; batches of length-sorted texts, padded only to
    their own longest text. Subclasses run one tokenised batch."""

    def __init__(self, model_path: Path, batch_size: int = BATCH_SIZE) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        self.max_length = _max_seq_length(model_path)
        self.batch_size = batch_size

    def run_batch(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

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
            vectors = self.run_batch(batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64))
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[chunk] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


class OnnxEmbedder(SortedBatchEmbedder):
    """ONNX Runtime on CPU, one intra-op thread per physical core, all graph optimisations."""

    def __init__(self, model_path: Path, quantized: bool = False, batch_size: int = BATCH_SIZE) -> None:
        import onnxruntime as ort

        super().__init__(model_path, batch_size)
        options = ort.SessionOptions()
        options.intra_op_num_threads = physical_cores()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        model = build_onnx(model_path, "onnx-int8" if quantized else "onnx")
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def run_batch(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]


class OpenVinoEmbedder(SortedBatchEmbedder):
    """OpenVINO on CPU computing in bf16 on the CPU's bf16 units (weights, activations and accumulation as
    OpenVINO chooses; pooling and normalisation of the result in fp32). Refuses to start if OpenVINO would run
    another precision, so the backend's name is what runs."""

    def __init__(self, model_path: Path, batch_size: int = BATCH_SIZE) -> None:
        import openvino as ov

        super().__init__(model_path, batch_size)
        core = ov.Core()
        # The compiled model is cached beside the export: later processes load it instead of compiling again.
        core.set_property({"CACHE_DIR": str(config.get_path("cache_dir") / "openvino")})
        settings = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}
        settings["INFERENCE_NUM_THREADS"] = str(physical_cores())
        model = core.read_model(str(build_onnx(model_path, "openvino-bf16")))
        compiled = core.compile_model(model, "CPU", settings)
        precision = compiled.get_property("INFERENCE_PRECISION_HINT")
        if precision != ov.Type.bf16:
            raise RuntimeError(f"OpenVINO runs this model in {precision}, not bf16; use embedding backend 'onnx'")
        self.request = compiled.create_infer_request()
        self.lock = threading.Lock()  # one request per process (cached): job threads take turns

    def run_batch(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with self.lock:
            result = self.request.infer({"input_ids": input_ids, "attention_mask": attention_mask})
            return np.array(result[0], dtype=np.float32)  # a copy: the request reuses its output buffer


def _max_seq_length(model_path: Path) -> int:
    try:
        return int(json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


@functools.lru_cache(maxsize=4)
def exported_embedder(model_path: str, backend: str) -> SortedBatchEmbedder:
    """One inference session per model and backend (openvino-bf16, onnx, onnx-int8) per process."""
    if backend == "openvino-bf16":
        return OpenVinoEmbedder(Path(model_path))
    return OnnxEmbedder(Path(model_path), quantized=backend == "onnx-int8")
