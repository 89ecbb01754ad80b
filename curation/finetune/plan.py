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
class SplitLengths:
    """Token lengths of one split's rows: the prompt before the first reply, and the whole example."""

    ids: list[Any] = field(default_factory=list)
    prompt: list[int] = field(default_factory=list)
    total: list[int] = field(default_factory=list)

    def too_long(self, max_len: int) -> int:
        return sum(t > max_len for t in self.total)

    def prompt_too_long(self, max_len: int) -> int:
        return sum(p >= max_len for p in self.prompt)

    def kept(self, cfg: TrainConfig) -> list[int]:
        """Lengths of the rows a run trains or evaluates on, under the long-row rule."""
        if cfg.long_rows == "drop":
            return [t for t in self.total if t <= cfg.max_seq_len]
        return [min(t, cfg.max_seq_len) for p, t in zip(self.prompt, self.total, strict=True) if p < cfg.max_seq_len]


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
    dropped: int = 0
    eval_examples: int = 0
    fit_len: int = 0
    long_row_choices: list[str] = field(default_factory=list)
    train_lengths: SplitLengths = field(default_factory=lambda: SplitLengths())
    heldout_lengths: SplitLengths = field(default_factory=lambda: SplitLengths())
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
    if cfg.eval_snapshot:
        try:
            heldout = load_snapshot(Path(cfg.eval_snapshot))[1]
        except (OSError, ValueError) as err:
            plan.errors.append(f"eval_snapshot: {err}")
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


def split_lengths(frame: Any, tok: Any, prompt_format: str, errors: list[str], split: str) -> SplitLengths:
    """Tokenise a split (batched, the same pieces the trainer encodes); unrenderable rows become errors."""
    out, rows = SplitLengths(), []
    for row in frame.to_dict("records"):
        try:
            rows.append((row.get("id"), data.pieces(row, tok, prompt_format)))
        except ValueError as err:
            errors.append(f"snapshot ({split}): {err}")
    if not rows:
        return out
    firsts = tok([parts[0][0] for _, parts in rows], add_special_tokens=prompt_format == "alpaca").input_ids
    rest = [text for _, parts in rows for text, _ in parts[1:]]
    rest_lens = iter(len(x) for x in tok(rest, add_special_tokens=False).input_ids)
    for (row_id, parts), first in zip(rows, firsts, strict=True):
        out.ids.append(row_id)
        out.prompt.append(len(first))
        out.total.append(len(first) + sum(next(rest_lens) for _ in parts[1:]))
    return out


def long_row_choices(plan: TrainPlan, cfg: TrainConfig) -> list[str]:
    """What each way of handling rows longer than max_seq_len would do to the train and held-out splits."""
    tr, ho, n = plan.train_lengths, plan.heldout_lengths, cfg.max_seq_len
    if not (tr.too_long(n) or ho.too_long(n)):
        return []
    cut_tr, cut_ho = tr.too_long(n) - tr.prompt_too_long(n), ho.too_long(n) - ho.prompt_too_long(n)
    uncuttable = tr.prompt_too_long(n) + ho.prompt_too_long(n)
    return [
        f"truncate: cuts the end of {cut_tr} train / {cut_ho} held-out rows"
        + (f"; {uncuttable} rows have prompts too long to cut" if uncuttable else ""),
        f"drop: leaves out {tr.too_long(n)} train / {ho.too_long(n)} held-out rows",
        f"raise max_seq_len to {plan.fit_len}: every row fits whole",
    ]


def _long_row_errors(cfg: TrainConfig, plan: TrainPlan) -> None:
    """Prompts that cannot be truncated, and an empty eval set when eval was asked for."""
    n, choice = cfg.max_seq_len, f"set long_rows: drop or raise max_seq_len to {plan.fit_len}"
    for name, lengths in (("train", plan.train_lengths), ("held-out", plan.heldout_lengths)):
        worst = [i for i, p in enumerate(lengths.prompt) if p >= n]
        if worst and cfg.long_rows == "truncate":
            first = worst[0]
            plan.errors.append(
                f"max_seq_len: {n} is shorter than the prompt of {len(worst)} {name} row(s) (e.g. example "
                f"{lengths.ids[first]}: {lengths.prompt[first]} tokens), which cannot be truncated; {choice}"
            )
    if not plan.train_lengths.kept(cfg) and plan.train_examples:
        plan.errors.append(f"long_rows: no train row fits max_seq_len {n}; raise max_seq_len to {plan.fit_len}")
    asked = cfg.eval_interval > 0 or plan.heldout_examples > 0
    if asked and plan.eval_examples == 0:
        if not plan.heldout_examples:
            why = "the snapshot has no held-out rows; make one with a held-out share, or set eval_interval 0"
        elif cfg.long_rows == "drop":
            why = f"long_rows: drop leaves out all {plan.heldout_examples} held-out rows; use truncate or raise "
            why += f"max_seq_len to {plan.fit_len}"
        else:
            why = f"no held-out prompt fits max_seq_len {n}; raise it to {plan.fit_len}"
        plan.errors.append(f"eval: the eval set is empty: {why}")


def _measure(cfg: TrainConfig, plan: TrainPlan, splits: tuple[Any, Any], info: fconfig.ModelInfo) -> None:
    """Tokenise both splits: lengths vs max_seq_len under the long-row rule, sequences, steps, eval set size."""
    tok = data.load_tokenizer(str(info.folder))
    plan.train_lengths = split_lengths(splits[0], tok, cfg.prompt_format, plan.errors, "train")
    plan.heldout_lengths = split_lengths(splits[1], tok, cfg.prompt_format, plan.errors, "held-out")
    if not plan.train_lengths.ids:
        return
    tr, n = plan.train_lengths, cfg.max_seq_len
    plan.longest_prompt, plan.longest_example = max(tr.prompt), max(tr.total)
    plan.fit_len = max(tr.total + plan.heldout_lengths.total)
    plan.truncated = tr.too_long(n) - tr.prompt_too_long(n) if cfg.long_rows == "truncate" else 0
    plan.dropped = tr.too_long(n) if cfg.long_rows == "drop" else 0
    lengths = tr.kept(cfg)
    plan.train_tokens = sum(lengths)
    plan.eval_examples = min(cfg.eval_max_examples, len(plan.heldout_lengths.kept(cfg)))
    _long_row_errors(cfg, plan)
    plan.long_row_choices = long_row_choices(plan, cfg)
    plan.sequences_per_epoch = data.sequences_per_epoch(lengths, cfg.packing, cfg.max_seq_len)
    plan.steps = total_steps(cfg, plan.sequences_per_epoch)
    if cfg.token_budget and plan.train_tokens:  # about: the exact count depends on the shuffled order
        micro_batches = math.ceil(plan.sequences_per_epoch / cfg.batch_size)
        plan.steps = math.ceil(cfg.token_budget / (plan.train_tokens / micro_batches) / cfg.grad_accum)


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
        _measure(cfg, plan, splits, info)
    return plan
