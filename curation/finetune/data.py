"""Examples to training tensors: prompt formats, tokenisation with prompt masking, padding and packing.

Packing puts several examples into one row with position_ids restarting at 0 for each; with no attention mask,
transformers (5.x, any attention implementation) turns restarting positions into a block-diagonal causal mask,
so no token attends across examples. The first token of each packed example gets label -100, as its
prediction would come from the previous example.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

IGNORE_INDEX = -100
ALPACA_HEADER = (
    "Below is an instruction that describes a task{extra}. Write a response that appropriately completes the request."
)
ALPACA_WITH_INPUT = (
    ALPACA_HEADER.format(extra=", paired with an input that provides further context")
    + "\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = ALPACA_HEADER.format(extra="") + "\n\n### Instruction:\n{instruction}\n\n### Response:\n"


@functools.lru_cache(maxsize=4)
def load_tokenizer(base_model: str) -> Any:
    """The base model's tokenizer (cached per model; pad falls back to eos)."""
    from curation.models import load_tokenizer as _load

    tok = _load(base_model)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _messages(value: Any) -> list[dict[str, str]] | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return [{"role": str(m["role"]), "content": _with_reasoning(m)} for m in value] or None


def _with_reasoning(turn: dict[str, Any]) -> str:
    """A turn's content, with its `reasoning_content` (if any) in front as a <think> block so it is trained on."""
    reasoning = turn.get("reasoning_content")
    return f"<think>\n{reasoning}\n</think>\n\n{turn['content']}" if reasoning else str(turn["content"])


def conversation(row: dict[str, Any]) -> list[dict[str, str]]:
    """The example as chat messages: its `messages`, or one user turn (instruction + input) and the output."""
    messages = _messages(row.get("messages"))
    if messages:
        return messages
    user = row.get("instruction") or ""
    if row.get("input"):
        user = f"{user}\n\n{row['input']}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": row.get("output") or ""}]


def _alpaca_fields(messages: list[dict[str, str]]) -> tuple[str, str]:
    """(instruction, input) for the Alpaca template: last user turn, earlier turns as context."""
    context = [f"{m['role']}: {m['content']}" for m in messages[:-2]]
    return messages[-2]["content"], "\n".join(context)


def render(row: dict[str, Any], tokenizer: Any, prompt_format: str) -> tuple[str, str]:
    """(prompt, response) texts; the loss covers the last assistant turn, everything before is prompt."""
    messages = conversation(row)
    if messages[-1]["role"] != "assistant" or len(messages) < 2:
        raise ValueError(f"example {row.get('id')}: messages must end with a user turn then an assistant reply")
    if prompt_format == "alpaca":
        instruction, extra = (
            _alpaca_fields(messages)
            if _messages(row.get("messages"))
            else (
                row.get("instruction") or "",
                row.get("input") or "",
            )
        )
        template = ALPACA_WITH_INPUT if extra else ALPACA_NO_INPUT
        return template.format(instruction=instruction, input=extra), messages[-1]["content"] + tokenizer.eos_token
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if full.startswith(prompt):
        return prompt, full[len(prompt) :]
    return prompt, messages[-1]["content"] + tokenizer.eos_token


def prompt_ids(row: dict[str, Any], tokenizer: Any, prompt_format: str) -> list[int]:
    """Token ids of the prompt alone (what generation starts from)."""
    prompt, _ = render(row, tokenizer, prompt_format)
    return tokenizer(prompt, add_special_tokens=prompt_format == "alpaca").input_ids


@dataclass
class Encoded:
    """One tokenised example: ids, labels (-100 over the prompt when masked), and where it came from."""

    example_id: int
    input_ids: list[int]
    labels: list[int]
    prompt_len: int
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)


def encode(row: dict[str, Any], tokenizer: Any, prompt_format: str, max_len: int, response_only: bool) -> Encoded:
    """Tokenise prompt and response separately, so the mask boundary is exact; cut the response to max_len."""
    prompt, response = render(row, tokenizer, prompt_format)
    p_ids = tokenizer(prompt, add_special_tokens=prompt_format == "alpaca").input_ids
    r_ids = tokenizer(response, add_special_tokens=False).input_ids
    if len(p_ids) >= max_len:
        raise ValueError(f"example {row.get('id')}: prompt has {len(p_ids)} tokens, max_seq_len is {max_len}")
    room = max_len - len(p_ids)
    ids = p_ids + r_ids[:room]
    labels = ([IGNORE_INDEX] * len(p_ids) if response_only else list(p_ids)) + r_ids[:room]
    return Encoded(int(row.get("id") or 0), ids, labels, len(p_ids), truncated=len(r_ids) > room)


def encode_frame(
    frame: pd.DataFrame, tokenizer: Any, prompt_format: str, max_len: int, response_only: bool
) -> tuple[list[Encoded], list[str]]:
    """Encode every row; rows that cannot be trained on are returned as problems (never dropped silently)."""
    encoded, problems = [], []
    for row in frame.to_dict("records"):
        try:
            encoded.append(encode(row, tokenizer, prompt_format, max_len, response_only))
        except ValueError as err:
            problems.append(str(err))
    return encoded, problems


def pack(lengths: list[int], max_len: int, window: int = 64) -> list[list[int]]:
    """First-fit packing of example indices (in the given order) into rows of at most max_len tokens.

    Only the `window` most recent bins stay open, so packing 50K examples stays linear.
    """
    bins: list[list[int]] = []
    room: list[int] = []
    open_bins: list[int] = []
    for index, length in enumerate(lengths):
        target = next((b for b in open_bins if length <= room[b]), None)
        if target is None:
            target = len(bins)
            bins.append([])
            room.append(max_len)
            open_bins.append(target)
            if len(open_bins) > window:
                open_bins.pop(0)
        bins[target].append(index)
        room[target] -= length
    return bins


def collate_padded(batch: list[Encoded], pad_id: int) -> dict[str, Any]:
    """Right-padded batch with a 2D attention mask."""
    import torch

    width = max(len(e) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        ids[i, : len(e)] = torch.tensor(e.input_ids)
        labels[i, : len(e)] = torch.tensor(e.labels)
        mask[i, : len(e)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "tokens": int(mask.sum())}


def collate_packed(rows: list[list[Encoded]], pad_id: int) -> dict[str, Any]:
    """Packed batch: examples side by side per row, position_ids restarting at 0, no attention mask."""
    import torch

    width = max(sum(len(e) for e in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    tokens = 0
    for i, row in enumerate(rows):
        start = 0
        for e in row:
            end = start + len(e)
            ids[i, start:end] = torch.tensor(e.input_ids)
            labels[i, start:end] = torch.tensor(e.labels)
            labels[i, start] = IGNORE_INDEX
            positions[i, start:end] = torch.arange(len(e))
            start, tokens = end, tokens + len(e)
        positions[i, start:] = torch.arange(width - start)  # padding forms its own segment
    return {"input_ids": ids, "labels": labels, "position_ids": positions, "tokens": tokens}


def epoch_batches(
    examples: list[Encoded], batch_size: int, packing: bool, max_len: int, seed: int, pad_id: int
) -> list[dict[str, Any]]:
    """One epoch's micro-batches in a seeded shuffled order (the same for a given seed, so resume can skip)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    shuffled = [examples[i] for i in order]
    if not packing:
        return [collate_padded(shuffled[i : i + batch_size], pad_id) for i in range(0, len(shuffled), batch_size)]
    rows = [[shuffled[i] for i in b] for b in pack([len(e) for e in shuffled], max_len)]
    return [collate_packed(rows[i : i + batch_size], pad_id) for i in range(0, len(rows), batch_size)]


def sequences_per_epoch(lengths: Iterable[int], packing: bool, max_len: int) -> int:
    lengths = list(lengths)
    return len(pack(lengths, max_len)) if packing else len(lengths)


def model_inputs(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    """The tensors of a batch on `device`, ready for model(**inputs) (use_cache off, as packing needs)."""
    keys = ("input_ids", "labels", "attention_mask", "position_ids")
    return {k: batch[k].to(device) for k in keys if k in batch} | {"use_cache": False}
