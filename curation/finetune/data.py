"""Examples to training tensors: prompt formats, tokenisation with prompt masking, padding and packing.

Every assistant turn of a conversation is a reply that trains; system and user turns (and the template's
markup before each reply) get label -100 when response_only_loss is on.

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
    return [{"role": str(m["role"]), "content": _with_tool_calls(m)} for m in value] or None


def _with_reasoning(turn: dict[str, Any]) -> str:
    """A turn's content, with its `reasoning_content` (if any) in front as a <think> block so it is trained on."""
    reasoning = turn.get("reasoning_content")
    return f"<think>\n{reasoning}\n</think>\n\n{turn['content']}" if reasoning else str(turn["content"])


def _with_tool_calls(turn: dict[str, Any]) -> str:
    """The turn's text, with each tool call after it as a `<tool_call>` JSON block (Hermes / Qwen style), so an
    assistant turn that calls tools trains on the calls; chat templates differ in whether they render tool_calls."""
    calls = turn.get("tool_calls") or []
    if isinstance(calls, str):  # a snapshot keeps them as JSON text
        calls = json.loads(calls) or []
    blocks = []
    for call in calls:
        function = call["function"]
        arguments = function["arguments"]
        arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
        body = json.dumps({"name": function["name"], "arguments": arguments}, ensure_ascii=False)
        blocks.append(f"<tool_call>\n{body}\n</tool_call>")
    text = _with_reasoning(turn)
    return "\n".join([text, *blocks]) if text and blocks else text or "\n".join(blocks)


def conversation(row: dict[str, Any]) -> list[dict[str, str]]:
    """The example as chat messages: its `messages`, or one user turn (instruction + input) and the output."""
    messages = _messages(row.get("messages"))
    if messages:
        return messages
    user = row.get("instruction") or ""
    if row.get("input"):
        user = f"{user}\n\n{row['input']}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": row.get("output") or ""}]


def _check_turns(row: dict[str, Any], messages: list[dict[str, str]]) -> None:
    roles = [m["role"] for m in messages]
    if roles[-1] != "assistant" or "user" not in roles[: roles.index("assistant")]:
        raise ValueError(f"example {row.get('id')}: messages must have a user turn before each reply and end with one")


def _chat_pieces(messages: list[dict[str, str]], tokenizer: Any) -> list[tuple[str, bool]]:
    """Chat-template text cut at each assistant turn: each reply is the rendered text its turn adds."""
    pieces, done = [], ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], add_generation_prompt=True, tokenize=False)
        after = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (before.startswith(done) and after.startswith(before)):
            raise ValueError("the chat template does not render earlier turns as a prefix; use prompt_format alpaca")
        pieces += [(before[len(done) :], False), (after[len(before) :], True)]
        done = after
    return pieces


def _alpaca_pieces(row: dict[str, Any], messages: list[dict[str, str]], eos: str) -> list[tuple[str, bool]]:
    """Alpaca template: the first user turn (system text as input), later turns as further Instruction/Response."""
    if not _messages(row.get("messages")):
        instruction, extra = row.get("instruction") or "", row.get("input") or ""
        template = ALPACA_WITH_INPUT if extra else ALPACA_NO_INPUT
        return [(template.format(instruction=instruction, input=extra), False), ((row.get("output") or "") + eos, True)]
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    pieces: list[tuple[str, bool]] = []
    pending: list[str] = []
    for message in messages:
        if message["role"] == "user":
            pending.append(message["content"])
        elif message["role"] == "tool":  # a tool result is context for the next reply, never trained on
            pending.append(f"Tool result:\n{message['content']}")
        elif message["role"] == "assistant":
            user = "\n".join(pending)
            if pieces:
                text = f"\n\n### Instruction:\n{user}\n\n### Response:\n"
            else:
                text = (ALPACA_WITH_INPUT if system else ALPACA_NO_INPUT).format(instruction=user, input=system)
            pieces += [(text, False), (message["content"] + eos, True)]
            pending = []
    return pieces


def pieces(row: dict[str, Any], tokenizer: Any, prompt_format: str) -> list[tuple[str, bool]]:
    """The example's text in order as (text, is_reply) pieces; every assistant turn is a reply that trains."""
    messages = conversation(row)
    _check_turns(row, messages)
    if prompt_format == "alpaca":
        return _alpaca_pieces(row, messages, tokenizer.eos_token)
    try:
        return _chat_pieces(messages, tokenizer)
    except ValueError as err:
        raise ValueError(f"example {row.get('id')}: {err}") from None


def render(row: dict[str, Any], tokenizer: Any, prompt_format: str) -> tuple[str, str]:
    """(prompt, response) texts: the last assistant turn, and everything before it (what generation starts from)."""
    parts = pieces(row, tokenizer, prompt_format)
    return "".join(text for text, _ in parts[:-1]), parts[-1][0]


def prompt_ids(row: dict[str, Any], tokenizer: Any, prompt_format: str) -> list[int]:
    """Token ids of the prompt alone (what generation starts from)."""
    prompt, _ = render(row, tokenizer, prompt_format)
    return tokenizer(prompt, add_special_tokens=prompt_format == "alpaca").input_ids


@dataclass
class Encoded:
    """One tokenised example: ids, labels (-100 outside the replies when masked), and where it came from."""

    example_id: int
    input_ids: list[int]
    labels: list[int]
    prompt_len: int
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)


LONG_ROWS = ("truncate", "drop")


class TooLong(ValueError):
    """An example that does not fit max_seq_len under the chosen long-row rule."""


def piece_ids(parts: list[tuple[str, bool]], tokenizer: Any, prompt_format: str) -> list[list[int]]:
    """Token ids of each piece, tokenised separately so the mask boundaries are exact."""
    first = tokenizer(parts[0][0], add_special_tokens=prompt_format == "alpaca").input_ids
    return [first, *tokenizer([text for text, _ in parts[1:]], add_special_tokens=False).input_ids]


def fit(
    row_id: Any, parts: list[tuple[str, bool]], ids: list[list[int]], max_len: int, long_rows: str, response_only: bool
) -> Encoded:
    """Join the pieces into one example under the long-row rule (truncate the end, or drop the whole row)."""
    tokens = [t for piece in ids for t in piece]
    labels = [
        t if (reply or not response_only) else IGNORE_INDEX
        for (_, reply), piece in zip(parts, ids, strict=True)
        for t in piece
    ]
    prompt_len = len(ids[0])
    if prompt_len >= max_len:
        raise TooLong(f"example {row_id}: prompt has {prompt_len} tokens, max_seq_len is {max_len}")
    if len(tokens) > max_len and long_rows == "drop":
        raise TooLong(f"example {row_id}: {len(tokens)} tokens, longer than max_seq_len {max_len} (long_rows: drop)")
    return Encoded(int(row_id or 0), tokens[:max_len], labels[:max_len], prompt_len, truncated=len(tokens) > max_len)


def encode(
    row: dict[str, Any],
    tokenizer: Any,
    prompt_format: str,
    max_len: int,
    response_only: bool,
    long_rows: str = "truncate",
) -> Encoded:
    """Tokenise an example with every assistant turn as a reply (labels -100 elsewhere when response_only)."""
    parts = pieces(row, tokenizer, prompt_format)
    return fit(row.get("id"), parts, piece_ids(parts, tokenizer, prompt_format), max_len, long_rows, response_only)


def encode_frame(
    frame: pd.DataFrame,
    tokenizer: Any,
    prompt_format: str,
    max_len: int,
    response_only: bool,
    long_rows: str = "truncate",
) -> tuple[list[Encoded], list[str]]:
    """Encode every row; rows that cannot be trained on are returned as problems (never dropped silently)."""
    encoded, problems = [], []
    for row in frame.to_dict("records"):
        try:
            encoded.append(encode(row, tokenizer, prompt_format, max_len, response_only, long_rows))
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
