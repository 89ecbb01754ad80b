"""What a run will do before it starts: examples, tokens, steps, memory estimate, and every blocking problem."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.finetune import config as fconfig
from curation.finetune import data
from curation.finetune.config import TrainConfig


@dataclass
class TrainPlan:
    """The facts the page shows before launch; `errors` non-empty means do not launch."""

    errors: list[str] = field(default_factory=list)
    train_examples: int = 0
    heldout_examples: int = 0
    train_tokens: int = 0
    longest_prompt: int = 0
    longest_example: int = 0
    truncated: int = 0
    sequences_per_epoch: int = 0
    steps: int = 0
    memory_bytes: int = 0
    available_bytes: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)


def total_steps(cfg: TrainConfig, sequences_per_epoch: int) -> int:
    """Optimizer steps of the whole run."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    return cfg.epochs * max(1, math.ceil(math.ceil(sequences_per_epoch / cfg.batch_size) / cfg.grad_accum))


def _load_snapshot(cfg: TrainConfig, plan: TrainPlan) -> tuple[Any, Any] | None:
    from curation.mixture.snapshot import load_snapshot

    if not cfg.snapshot:
        plan.errors.append("snapshot: none chosen; pick a snapshot folder (make one from the approved rows first)")
        return None
    try:
        train, heldout, plan.manifest = load_snapshot(Path(cfg.snapshot))
    except (OSError, ValueError) as err:
        plan.errors.append(f"snapshot: {err}")
        return None
    plan.train_examples, plan.heldout_examples = len(train), len(heldout)
    if not len(train):
        plan.errors.append(f"snapshot: the train split of {cfg.snapshot} is empty; pick another snapshot")
        return None
    return train, heldout


def _load_model(cfg: TrainConfig, plan: TrainPlan) -> fconfig.ModelInfo | None:
    try:
        info = fconfig.model_info(cfg.base_model)
    except (OSError, ValueError) as err:
        plan.errors.append(f"base_model: {err}")
        return None
    unknown = [m for m in cfg.target_modules if m != fconfig.ALL_LINEAR and m not in info.linear_in]
    if unknown:
        plan.errors.append(
            f"target_modules: {unknown} are not linear layers of this model; use some of "
            f"{sorted(info.linear_in)} or 'all-linear'"
        )
    if cfg.prompt_format == "chat" and not info.has_chat_template:
        plan.errors.append("prompt_format: this model has no chat template; choose 'alpaca'")
    if cfg.max_seq_len > info.max_positions:
        plan.errors.append(f"max_seq_len: {cfg.max_seq_len} exceeds the model's {info.max_positions} positions")
    return info


def _render_all(cfg: TrainConfig, plan: TrainPlan, train: Any, tok: Any) -> tuple[list, list[str], list[str]]:
    """(ids, prompts, responses) of every renderable row; the others become errors that name the example."""
    ids, prompts, responses = [], [], []
    for row in train.to_dict("records"):
        try:
            prompt, response = data.render(row, tok, cfg.prompt_format)
        except ValueError as err:
            plan.errors.append(f"snapshot: {err}")
            continue
        ids.append(row.get("id"))
        prompts.append(prompt)
        responses.append(response)
    return ids, prompts, responses


def _measure(cfg: TrainConfig, plan: TrainPlan, train: Any, info: fconfig.ModelInfo) -> None:
    """Tokenise the train split (batched): prompt lengths vs max_seq_len, truncation, sequences, steps."""
    tok = data.load_tokenizer(str(info.folder))
    ids, prompts, responses = _render_all(cfg, plan, train, tok)
    if not ids:
        return
    p_lens = [len(x) for x in tok(prompts, add_special_tokens=cfg.prompt_format == "alpaca").input_ids]
    r_lens = [len(x) for x in tok(responses, add_special_tokens=False).input_ids]
    totals = [p + r for p, r in zip(p_lens, r_lens, strict=True)]
    worst = max(range(len(ids)), key=p_lens.__getitem__)
    plan.longest_prompt, plan.longest_example = p_lens[worst], max(totals)
    plan.truncated = sum(t > cfg.max_seq_len for t in totals)
    lengths = [min(t, cfg.max_seq_len) for t in totals]
    plan.train_tokens = sum(lengths)
    if plan.longest_prompt >= cfg.max_seq_len:
        plan.errors.append(
            f"max_seq_len: {cfg.max_seq_len} is shorter than the longest prompt ({plan.longest_prompt} tokens, "
            f"example {ids[worst]}); raise max_seq_len to at least {plan.longest_prompt + 32} or drop that example "
            "from the snapshot"
        )
    plan.sequences_per_epoch = data.sequences_per_epoch(lengths, cfg.packing, cfg.max_seq_len)
    plan.steps = total_steps(cfg, plan.sequences_per_epoch)


def make_plan(cfg: TrainConfig, *, memory_bytes: int | None = None) -> TrainPlan:
    """Check settings, snapshot and model; count what the run will do."""
    plan = TrainPlan(errors=fconfig.check_fields(cfg))
    splits = _load_snapshot(cfg, plan)
    info = _load_model(cfg, plan)
    if info is None:
        return plan
    plan.memory_bytes = fconfig.estimate_memory_bytes(cfg, info)
    plan.available_bytes = memory_bytes if memory_bytes is not None else fconfig.available_memory_bytes()
    message = fconfig.memory_message(cfg, info, plan.available_bytes)
    if message:
        plan.errors.append(message)
    if splits is not None and not any(e.startswith(("prompt_format", "max_seq_len")) for e in plan.errors):
        _measure(cfg, plan, splits[0], info)
    return plan
