"""Score a model on items: multiple choice by rank classification, free-form by greedy generation + exact match.

Rank classification (FLAN): the prompt is the chat template with add_generation_prompt=True around the item's
user turn; score(option) = sum of the log-probabilities of the option's tokens after that prompt (also the
per-token mean, reported beside it); the prediction is the argmax. The prompt runs once per item and its cache
is shared by the item's options (a batch), so an item costs about one prompt's forward pass, not one per option.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.evaluate.answers import extract_answer, is_correct
from curation.evaluate.items import EvalItem

Progress = Callable[[float, float | None, str | None], None]
BASE = "base"


@dataclass
class LoadedModel:
    """A causal LM ready to score, its tokenizer, and what it is (for results)."""

    model: Any
    tokenizer: Any
    label: str
    path: str


def resolve_model_spec(spec: str) -> tuple[str, Path | None]:
    """('base' | 'run' | 'merged' | 'adapter', path) for base, a run name or folder, a model or adapter folder."""
    from curation.finetune import runs
    from curation.models import DEFAULT_MODEL

    if spec in (BASE, DEFAULT_MODEL, "", None):  # a run's base_model names the packaged model this way
        return BASE, None
    path = Path(spec).expanduser()
    if not path.exists() and (runs.runs_root() / spec).is_dir():
        path = runs.runs_root() / spec
    if (path / runs.CONFIG).is_file():
        return "run", path
    if (path / "config.json").is_file():
        return "merged", path
    if (path / "adapter_config.json").is_file():
        return "adapter", path
    raise FileNotFoundError(
        f"model {spec!r}: not 'base', a run (see `train runs`), a merged model folder or an adapter folder"
    )


def load_model(spec: str, device: str | None = None) -> LoadedModel:
    """Load the base model, a run's adapter on its base, a merged model folder or an adapter folder (eval mode)."""
    import json

    import torch

    from curation import models

    kind, path = resolve_model_spec(spec)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "run":
        from curation.finetune.compare import load_tuned

        model, tok, _ = load_tuned(path, device)
    elif kind == "adapter":
        from peft import PeftModel

        base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
        folder = models.resolve_model_dir(base if base and Path(base).is_dir() else None)
        model = PeftModel.from_pretrained(models.load_weights(folder), path).to(device)
        tok = models.load_tokenizer(str(folder))
    else:
        model, tok = models.load_causal_lm(str(path) if path else None, device)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    label = BASE if kind == BASE else path.name
    return LoadedModel(model.eval(), tok, label, str(path or models.resolve_model_dir()))


def prompt_ids(tokenizer: Any, item: EvalItem) -> list[int]:
    """Token ids of the chat prompt for an item, ending where the assistant's reply starts."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": item.user_turn()}], add_generation_prompt=True, tokenize=False
    )
    return list(tokenizer(text, add_special_tokens=False).input_ids)


def option_ids(tokenizer: Any, option: str) -> list[int]:
    ids = list(tokenizer(option, add_special_tokens=False).input_ids)
    if not ids:
        raise ValueError(f"option {option!r} has no tokens")
    return ids


def continuation_logprobs(
    model: Any, context: list[int], continuations: list[list[int]], pad_id: int
) -> list[list[float]]:
    """Log-probability of each continuation token after the shared context.

    The context runs once and its key/value cache is repeated for the continuations, which run as one
    right-padded batch (causal attention: padding after a continuation never changes its tokens' scores).
    """
    import torch

    device = model.device
    with torch.no_grad():
        first = model(input_ids=torch.tensor([context], device=device), use_cache=True, logits_to_keep=1)
        head = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
        cache = first.cache
        cache.batch_repeat_interleave(len(continuations))
        width = max(len(c) for c in continuations)
        ids = torch.full((len(continuations), width), pad_id, dtype=torch.long)
        for row, cont in enumerate(continuations):
            ids[row, : len(cont)] = torch.tensor(cont)
        positions = torch.arange(len(context), len(context) + width)[None].expand(len(continuations), -1)
        rest = model(input_ids=ids.to(device), position_ids=positions.to(device), cache=cache)
        logprobs = torch.log_softmax(rest.logits.float(), dim=-1)
    out = []
    for row, cont in enumerate(continuations):
        values = [float(head[cont[0]])]
        values += [float(logprobs[row, t - 1, cont[t]]) for t in range(1, len(cont))]
        out.append(values)
    return out


def score_multiple_choice(
    loaded: LoadedModel, items: list[EvalItem], progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Per item: option scores (sum and per-token mean of log-probs), both argmax predictions, correctness."""
    tok = loaded.tokenizer
    results = []
    for done, item in enumerate(items, start=1):
        options = [option_ids(tok, o) for o in item.options or ()]
        logprobs = continuation_logprobs(loaded.model, prompt_ids(tok, item), options, tok.pad_token_id)
        results.append(_mc_result(item, [sum(lp) for lp in logprobs], [sum(lp) / len(lp) for lp in logprobs]))
        if progress and (done % 10 == 0 or done == len(items)):
            progress(done, len(items), f"scored {done}/{len(items)}")
    return results


def _mc_result(item: EvalItem, sums: list[float], means: list[float]) -> dict[str, Any]:
    pred = max(range(len(sums)), key=sums.__getitem__)
    pred_norm = max(range(len(means)), key=means.__getitem__)
    return {
        "index": item.index,
        "pred": pred,
        "correct": pred == item.answer_index,
        "option_scores": sums,
        "pred_norm": pred_norm,
        "correct_norm": pred_norm == item.answer_index,
        "option_scores_norm": means,
        "slices": item.slices,
    }


def generate_answers(
    loaded: LoadedModel, items: list[EvalItem], max_new_tokens: int = 256, batch_size: int = 8,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Greedy replies, their extracted final answers and exact-match correctness against the item's answer."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    results = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        prompts = [prompt_ids(tok, item) for item in chunk]
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, p in enumerate(prompts):
            ids[row, width - len(p) :] = torch.tensor(p)
            mask[row, width - len(p) :] = 1
        with torch.no_grad():
            out = model.generate(
                input_ids=ids.to(model.device), attention_mask=mask.to(model.device), max_new_tokens=max_new_tokens,
                do_sample=False, pad_token_id=tok.pad_token_id,
            )  # fmt: skip
        for item, row in zip(chunk, out[:, width:], strict=True):
            reply = tok.decode(row, skip_special_tokens=True).strip()
            correct = is_correct(reply, item.answer)
            results.append(
                {"index": item.index, "pred": extract_answer(reply).strip(), "correct": correct, "option_scores": []}
                | {"correct_norm": correct, "reply": reply, "slices": item.slices}
            )
        if progress:
            progress(min(len(items), start + batch_size), len(items), f"generated {start + len(chunk)}/{len(items)}")
    return results


def evaluate_items(
    loaded: LoadedModel, items: list[EvalItem], batch_size: int = 16, max_new_tokens: int = 256,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Per-item results in item order: multiple-choice items ranked, free-form items generated."""
    mc = [i for i in items if i.options]
    free = [i for i in items if not i.options]

    def part(offset: float, share: float) -> Progress | None:
        if progress is None:
            return None
        return lambda done, total, msg: progress(offset + share * done / max(total or 1, 1), None, msg)

    share = len(mc) / len(items) if items else 1.0
    results = score_multiple_choice(loaded, mc, part(0.0, share)) if mc else []
    if free:
        results += generate_answers(loaded, free, max_new_tokens, max(1, batch_size // 2), part(share, 1 - share))
    return sorted(results, key=lambda r: r["index"])
