"""Did tuning help? Base vs tuned generations side by side, and held-out loss per slice (source, cluster, CoT)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from curation.finetune import data, runs
from curation.finetune.config import TrainConfig, load_config

Progress = Callable[[float, float | None, str | None], None]
SLICE_COLUMNS = ("source", "task_cluster", "cot")


def load_tuned(run_dir: Path, device: str | None = None) -> tuple[Any, Any, TrainConfig]:
    """(peft model with the run's adapter, tokenizer, config); `model.disable_adapter()` gives the base."""
    import torch
    from peft import PeftModel

    from curation.models import load_weights, resolve_model_dir

    run_dir = Path(run_dir)
    if not (run_dir / runs.ADAPTER / "adapter_config.json").is_file():
        raise FileNotFoundError(f"run {run_dir.name} has no adapter yet; wait for it to finish or cancel it")
    cfg = load_config(run_dir / runs.CONFIG)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    folder = resolve_model_dir(cfg.base_model)
    model = PeftModel.from_pretrained(load_weights(folder), run_dir / runs.ADAPTER).to(device).eval()
    return model, data.load_tokenizer(str(folder)), cfg


def heldout_rows(run_dir: Path) -> pd.DataFrame:
    """The held-out split the run evaluates on (its eval_snapshot's, else its own snapshot's)."""
    from curation.mixture.snapshot import load_snapshot

    cfg = load_config(Path(run_dir) / runs.CONFIG)
    source = cfg.eval_snapshot or cfg.snapshot
    _, heldout, _ = load_snapshot(source)
    if heldout.empty:
        raise ValueError(f"snapshot {Path(source).name} has no held-out rows; make one with a held-out share")
    return heldout


def generate(model: Any, tokenizer: Any, prompt_ids: list[int], max_new_tokens: int) -> str:
    """Greedy continuation of a prompt, special tokens removed."""
    import torch

    ids = torch.tensor([prompt_ids], device=model.device)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(out[0, len(prompt_ids) :], skip_special_tokens=True).strip()


def side_by_side(
    run_dir: Path, ids: list[int] | None = None, n: int = 5, max_new_tokens: int = 64, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Base and tuned answers for chosen held-out rows (by id, else the first n); saved to compare.json."""
    rows = heldout_rows(run_dir)
    rows = rows[rows["id"].isin(ids)] if ids else rows.head(n)
    model, tok, cfg = load_tuned(run_dir)
    out = []
    for i, row in enumerate(rows.to_dict("records")):
        prompt = data.prompt_ids(row, tok, cfg.prompt_format)
        with model.disable_adapter():
            base = generate(model, tok, prompt, max_new_tokens)
        tuned = generate(model, tok, prompt, max_new_tokens)
        reference = data.conversation(row)[-1]["content"]
        out.append(
            {"id": row["id"], "instruction": row["instruction"], "input": row["input"]}
            | {
                "reference": reference,
                "base": base,
                "tuned": tuned,
            }
        )
        if progress:
            progress(i + 1, len(rows), f"generated {i + 1}/{len(rows)}")
    runs.write_json(Path(run_dir) / runs.COMPARE, out)
    return out


def example_losses(
    model: Any, encoded: list[data.Encoded], pad_id: int, batch_size: int = 8
) -> list[tuple[float, int]]:
    """(summed token loss, token count) per example, response tokens only."""
    import torch

    results = []
    for start in range(0, len(encoded), batch_size):
        batch = data.collate_padded(encoded[start : start + batch_size], pad_id)
        inputs = data.model_inputs(batch, model.device)
        labels = inputs.pop("labels")
        with torch.no_grad():
            logits = model(**inputs).logits[:, :-1].float()
        target = labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="none")
        counts = (target != -100).sum(1)
        results += [(float(s), int(c)) for s, c in zip(loss.sum(1), counts, strict=True)]
    return results


def slice_table(frame: pd.DataFrame, base: list[tuple[float, int]], tuned: list[tuple[float, int]]) -> pd.DataFrame:
    """Token-weighted mean loss per slice value, base vs tuned, plus an 'all' row."""
    frame = frame.assign(
        base_sum=[s for s, _ in base],
        tuned_sum=[s for s, _ in tuned],
        tokens=[c for _, c in base],
        cot=frame["cot"].map({True: "CoT", False: "non-CoT"}),
        all="all",
    )
    parts = []
    for column in ("all", *SLICE_COLUMNS):
        grouped = frame.fillna({column: "(none)"}).groupby(column, dropna=False)
        agg = grouped.agg(
            examples=("id", "size"), tokens=("tokens", "sum"), b=("base_sum", "sum"), t=("tuned_sum", "sum")
        )
        agg = agg.reset_index().rename(columns={column: "value"}).assign(slice=column)
        parts.append(agg)
    table = pd.concat(parts, ignore_index=True)
    table["base_loss"] = table["b"] / table["tokens"].clip(lower=1)
    table["tuned_loss"] = table["t"] / table["tokens"].clip(lower=1)
    table["delta"] = table["tuned_loss"] - table["base_loss"]
    return table[["slice", "value", "examples", "tokens", "base_loss", "tuned_loss", "delta"]]


def slice_losses(run_dir: Path, max_examples: int = 500, progress: Progress | None = None) -> pd.DataFrame:
    """Held-out loss per slice for the base and the tuned model; saved to slice_loss.json."""
    rows = heldout_rows(run_dir).head(max_examples)
    model, tok, cfg = load_tuned(run_dir)
    encoded, problems = data.encode_frame(rows, tok, cfg.prompt_format, cfg.max_seq_len, True, cfg.long_rows)
    if not encoded:
        raise ValueError(f"no held-out row can be scored under the run's settings; e.g. {problems[0]}")
    rows = rows[rows["id"].isin([e.example_id for e in encoded])]  # the rows the run's long_rows rule keeps
    if progress:
        progress(0.1, None, "base model")
    with model.disable_adapter():
        base = example_losses(model, encoded, tok.pad_token_id, cfg.batch_size)
    if progress:
        progress(0.55, None, "tuned model")
    tuned = example_losses(model, encoded, tok.pad_token_id, cfg.batch_size)
    table = slice_table(rows.reset_index(drop=True), base, tuned)
    runs.write_json(Path(run_dir) / runs.SLICES, table.to_dict("records"))
    return table


def saved_comparison(run_dir: Path) -> tuple[list[dict[str, Any]] | None, pd.DataFrame | None]:
    """The last side-by-side and slice-loss results saved in a run folder."""
    pairs = runs.read_json(Path(run_dir) / runs.COMPARE)
    slices = runs.read_json(Path(run_dir) / runs.SLICES)
    return pairs, pd.DataFrame(slices) if slices else None


def experiment_slices(run_dirs: list[Path], max_examples: int = 500, progress: Progress | None = None) -> pd.DataFrame:
    """Per-slice held-out loss of each run of an experiment (same eval set), base once, one row per slice value."""
    tables = []
    for i, run_dir in enumerate(run_dirs):
        if progress:
            progress(i / len(run_dirs), None, f"scoring {Path(run_dir).name}")
        table = slice_losses(run_dir, max_examples)
        tables.append(table.assign(run=Path(run_dir).name, snapshot=_snapshot_name(run_dir)))
    return pd.concat(tables, ignore_index=True)


def experiment_answers(
    run_dirs: list[Path], ids: list[int] | None = None, n: int = 3, max_new_tokens: int = 64
) -> pd.DataFrame:
    """Base and each run's tuned answers on the same held-out prompts: one row per prompt, one column per model."""
    merged: pd.DataFrame | None = None
    names = [_snapshot_name(d) for d in run_dirs]
    for run_dir, name in zip(run_dirs, names, strict=True):
        label = f"tuned: {name}" if names.count(name) == 1 else f"tuned: {name} ({Path(run_dir).name})"
        pairs = pd.DataFrame(side_by_side(run_dir, ids, n, max_new_tokens))
        tuned = pairs[["id", "tuned"]].rename(columns={"tuned": label})
        merged = pairs.drop(columns=["tuned"]) if merged is None else merged
        merged = merged.merge(tuned, on="id")
    return merged if merged is not None else pd.DataFrame()


def _snapshot_name(run_dir: Path) -> str:
    return (runs.read_json(Path(run_dir) / runs.MANIFEST) or {}).get("name", Path(run_dir).name)
