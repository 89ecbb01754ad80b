"""Training settings (TrainConfig), their YAML form, and validation before launch that names field and fix."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from curation.models import DEFAULT_MODEL

PROMPT_FORMATS = ("chat", "alpaca")
LONG_ROWS = ("truncate", "drop")
MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
ALL_LINEAR = "all-linear"


@dataclass
class TrainConfig:
    """Everything one LoRA run needs; written as config.yaml into its run folder."""

    snapshot: str = ""
    eval_snapshot: str = ""
    experiment: str = ""
    base_model: str = DEFAULT_MODEL
    prompt_format: str = "chat"
    response_only_loss: bool = True
    packing: bool = False
    max_seq_len: int = 512
    long_rows: str = "truncate"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    learning_rate: float = 2e-4
    epochs: int = 1
    max_steps: int = 0
    token_budget: int = 0
    batch_size: int = 4
    grad_accum: int = 1
    warmup_steps: int = 0
    gradient_checkpointing: bool = False
    mixed_precision: str = "auto"
    load_in_4bit: bool = False
    seed: int = 42
    eval_interval: int = 50
    save_interval: int = 50
    eval_max_examples: int = 200

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELD_HELP: dict[str, str] = {
    "snapshot": "Snapshot folder to train on (its train split; held-out split for eval loss).",
    "eval_snapshot": "Snapshot whose held-out split is the eval set (empty: this run's own); an experiment shares one.",
    "experiment": "Name of the experiment this run belongs to (runs over several snapshots with identical settings).",
    "base_model": f"'{DEFAULT_MODEL}' (packaged SmolLM2-135M-Instruct) or a local transformers model folder.",
    "prompt_format": "chat: the model's chat template; alpaca: the Alpaca '### Instruction/### Response' template.",
    "response_only_loss": "Mask prompt tokens (label -100) so only the response is learned.",
    "packing": "Pack several short examples into one sequence (attention stays inside each example).",
    "max_seq_len": "Longest sequence in tokens (train and held-out rows alike); see long_rows for longer rows.",
    "long_rows": "Rows longer than max_seq_len, train and held-out alike: truncate (cut the end) or drop them.",
    "lora_r": "LoRA rank.",
    "lora_alpha": "LoRA scaling alpha (effective scale alpha/r).",
    "lora_dropout": "Dropout on the LoRA input, in [0, 1).",
    "target_modules": "Linear layers that get adapters (e.g. q_proj, v_proj) or 'all-linear'.",
    "learning_rate": "AdamW learning rate.",
    "epochs": "Passes over the train split (ignored when max_steps > 0).",
    "max_steps": "Optimizer steps to run; 0 = use epochs.",
    "token_budget": "Train on exactly this many tokens, then stop (0: use max_steps / epochs); overrides both.",
    "batch_size": "Sequences per micro-batch.",
    "grad_accum": "Micro-batches per optimizer step (effective batch = batch_size x grad_accum).",
    "warmup_steps": "Linear warm-up steps before the linear decay.",
    "gradient_checkpointing": "Recompute activations in backward: about half the memory, ~1.5x slower.",
    "mixed_precision": "auto: bf16 on a CUDA GPU that has it, else fp16 there, fp32 on CPU; or no / bf16 / fp16.",
    "load_in_4bit": "QLoRA: load the base model in 4-bit NF4 (needs a CUDA GPU and bitsandbytes).",
    "seed": "Seed for data order and LoRA init.",
    "eval_interval": (
        "Optimizer steps between eval-loss measurements on the held-out split (0 = only at the end); "
        "when > 0 or the snapshot has held-out rows, an empty eval set is refused."
    ),
    "save_interval": "Optimizer steps between resumable checkpoints (0 = only at the end or on cancel).",
    "eval_max_examples": "Held-out examples used for eval loss (keeps eval quick).",
}


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """One YAML value to the field's type; ValueError naming the field otherwise."""
    try:
        if kind in ("bool", bool):
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                return value.lower() in ("true", "yes", "1")
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind in ("int", int):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if kind in ("float", float):
            return float(value)
        if kind in ("list[str]",):
            items = value.split(",") if isinstance(value, str) else list(value)
            return [str(v).strip() for v in items if str(v).strip()]
        return "" if value is None else str(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected {kind}, got {value!r}") from None


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from a plain dict; unknown keys and wrong types are errors that name the key."""
    known = {f.name: f.type for f in fields(TrainConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known settings: {', '.join(known)}")
    return TrainConfig(**{k: _coerce(k, known[k], v) for k, v in data.items()})


def load_config(path: Path | str) -> TrainConfig:
    """Read a TRAIN.yaml (any subset of the TrainConfig fields)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return config_from_dict(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def save_config(cfg: TrainConfig, path: Path | str) -> Path:
    path = Path(path)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def check_fields(cfg: TrainConfig) -> list[str]:
    """Range checks that need neither the model nor the data."""
    rules = [
        (cfg.prompt_format in PROMPT_FORMATS, "prompt_format", f"must be one of {PROMPT_FORMATS}"),
        (cfg.max_seq_len >= 16, "max_seq_len", "must be at least 16"),
        (cfg.long_rows in LONG_ROWS, "long_rows", f"must be one of {LONG_ROWS}"),
        (cfg.mixed_precision in MIXED_PRECISION, "mixed_precision", f"must be one of {MIXED_PRECISION}"),
        (cfg.lora_r >= 1, "lora_r", "must be at least 1"),
        (cfg.lora_alpha > 0, "lora_alpha", "must be positive"),
        (0 <= cfg.lora_dropout < 1, "lora_dropout", "must be in [0, 1)"),
        (bool(cfg.target_modules), "target_modules", "name at least one module, or 'all-linear'"),
        (0 < cfg.learning_rate <= 1, "learning_rate", "must be in (0, 1]; 1e-4 to 5e-4 is usual for LoRA"),
        (cfg.epochs >= 1 or cfg.max_steps > 0, "epochs", "must be at least 1 (or set max_steps > 0)"),
        (cfg.max_steps >= 0, "max_steps", "must be 0 (use epochs) or positive"),
        (cfg.token_budget >= 0, "token_budget", "must be 0 (use max_steps / epochs) or positive"),
        (cfg.batch_size >= 1, "batch_size", "must be at least 1"),
        (cfg.grad_accum >= 1, "grad_accum", "must be at least 1"),
        (cfg.warmup_steps >= 0, "warmup_steps", "must be 0 or positive"),
        (cfg.eval_interval >= 0, "eval_interval", "must be 0 (only at the end) or positive"),
        (cfg.save_interval >= 0, "save_interval", "must be 0 (only at the end) or positive"),
        (cfg.eval_max_examples >= 1, "eval_max_examples", "must be at least 1"),
    ]
    values = cfg.to_dict()
    return [f"{name}: {rule}; got {values[name]!r}" for ok, name, rule in rules if not ok] + device_errors(cfg)


def device_errors(cfg: TrainConfig) -> list[str]:
    """Precision and 4-bit settings this machine cannot run, with the fix."""
    import importlib.util

    import torch

    errors = []
    cuda = torch.cuda.is_available()
    if cfg.mixed_precision in ("bf16", "fp16") and not cuda:
        errors.append(f"mixed_precision: {cfg.mixed_precision} needs a CUDA GPU; use auto (fp32 on CPU) or no")
    elif cfg.mixed_precision == "bf16" and not torch.cuda.is_bf16_supported():
        errors.append("mixed_precision: this GPU has no bf16; use fp16 or auto")
    if cfg.load_in_4bit and not cuda:
        errors.append("load_in_4bit: 4-bit QLoRA needs a CUDA GPU (none found); set load_in_4bit false")
    elif cfg.load_in_4bit and importlib.util.find_spec("bitsandbytes") is None:
        errors.append("load_in_4bit: needs the bitsandbytes package (pip install bitsandbytes), or set it false")
    return errors


def precision(cfg: TrainConfig) -> str:
    """The mixed precision a run uses on this machine: 'bf16', 'fp16' or 'no' (fp32)."""
    import torch

    if cfg.mixed_precision != "auto":
        return cfg.mixed_precision
    if not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


@dataclass
class ModelInfo:
    """Shape facts about a base model, read from its config without loading weights."""

    folder: Path
    params: int
    layers: int
    hidden: int
    intermediate: int
    heads: int
    vocab: int
    max_positions: int
    linear_in: dict[str, int]  # leaf module name -> in_features (lm_head excluded)
    has_chat_template: bool


def model_info(base_model: str) -> ModelInfo:
    """Read a base model's shape on the meta device (no weights are loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from curation.finetune.data import load_tokenizer
    from curation.models import resolve_model_dir

    folder = resolve_model_dir(base_model)
    mcfg = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(mcfg)
    linear = {
        n.rsplit(".", 1)[-1]: m.in_features
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and not n.endswith("lm_head")
    }
    return ModelInfo(
        folder=folder,
        params=sum(p.numel() for p in model.parameters()),
        layers=mcfg.num_hidden_layers,
        hidden=mcfg.hidden_size,
        intermediate=getattr(mcfg, "intermediate_size", 4 * mcfg.hidden_size),
        heads=mcfg.num_attention_heads,
        vocab=mcfg.vocab_size,
        max_positions=getattr(mcfg, "max_position_embeddings", 1 << 20),
        linear_in=linear,
        has_chat_template=bool(getattr(load_tokenizer(str(folder)), "chat_template", None)),
    )


def adapted_modules(cfg: TrainConfig, info: ModelInfo) -> list[str]:
    return sorted(info.linear_in) if ALL_LINEAR in cfg.target_modules else list(cfg.target_modules)


def estimate_memory_bytes(cfg: TrainConfig, info: ModelInfo) -> int:
    """Peak training memory, float32 AdamW, calibrated on SmolLM2-135M on CPU (NOTES.md figures, about ±20%).

    Per token: ~6 float copies of the logits row, and per layer ~12 hidden + 4 intermediate + 2 heads x seq
    floats (attention scores), plus the inputs LoRA keeps for each adapted linear. Gradient checkpointing keeps
    one layer's activations plus each layer's input.
    """
    per_layer = 12 * info.hidden + 4 * info.intermediate + 2 * info.heads * cfg.max_seq_len
    per_layer += sum(2 * info.linear_in.get(m, info.hidden) + 2 * cfg.lora_r for m in adapted_modules(cfg, info))
    layers = info.hidden * info.layers + per_layer if cfg.gradient_checkpointing else per_layer * info.layers
    per_token = 4 * (6 * info.vocab + layers)
    tokens = cfg.batch_size * cfg.max_seq_len
    runtime = 600 * 2**20  # the Python/torch process itself
    return int(runtime + 4 * info.params * 1.05 + tokens * per_token)


def available_memory_bytes() -> int:
    """Memory training may use: the GPU's total when one is present, else the machine's available RAM."""
    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def memory_message(cfg: TrainConfig, info: ModelInfo, have: int) -> str | None:
    """The batch-size error when the estimate does not fit, with the largest batch that would."""
    need = estimate_memory_bytes(cfg, info)
    if need <= have:
        return None
    fixed = estimate_memory_bytes(dataclasses.replace(cfg, batch_size=0), info)
    fit = max(1, int(cfg.batch_size * (have - fixed) / (need - fixed)))
    fix = f"lower batch_size to {fit} and raise grad_accum to {math.ceil(cfg.batch_size * cfg.grad_accum / fit)}"
    if not cfg.gradient_checkpointing:
        fix += ", or turn on gradient_checkpointing"
    return (
        f"batch_size: {cfg.batch_size} x max_seq_len {cfg.max_seq_len} needs about {gib(need)} by estimate, "
        f"but {gib(have)} is available; {fix}"
    )


def validate(cfg: TrainConfig, snapshot: Path | str | None = None, *, memory_bytes: int | None = None) -> list[str]:
    """Every problem that would make the run fail or waste time, each naming the field and the fix."""
    from curation.finetune.plan import make_plan

    if snapshot is not None:
        cfg = dataclasses.replace(cfg, snapshot=str(snapshot))
    return make_plan(cfg, memory_bytes=memory_bytes).errors
