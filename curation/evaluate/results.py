"""One evaluation end to end: load a model, score an item set, summarise with intervals, save, compare."""

from __future__ import annotations

from typing import Any

from curation import config, identity
from curation.evaluate import engine, stats
from curation.evaluate.items import EvalItem, item_set_hash

PUBLIC_ITEM_KEYS = ("index", "pred", "correct", "option_scores")


def evaluate(
    spec: str, items: list[EvalItem], item_set: str, progress: engine.Progress | None = None,
    max_new_tokens: int = 256, loaded: engine.LoadedModel | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Score `items` with the model `spec` names; accuracy (summed log-probs) and per-token-mean accuracy, with CIs."""
    loaded = loaded or engine.load_model(spec)
    per_item = engine.evaluate_items(loaded, items, max_new_tokens=max_new_tokens, progress=progress)
    return summarise(loaded.label, loaded.path, item_set, item_set_hash(items), items, per_item)


def summarise(
    label: str, path: str, item_set: str, digest: str, items: list[EvalItem], per_item: list[dict[str, Any]]
) -> dict[str, Any]:
    """The result record for per-item results (accuracy_norm is None when no item is multiple choice)."""
    acc = stats.accuracy([r["correct"] for r in per_item])
    has_mc = any(i.options for i in items)
    norm = stats.accuracy([r["correct_norm"] for r in per_item]).value if has_mc else None
    return {
        "model": label, "model_path": path, "item_set": item_set, "item_set_hash": digest, "n": acc.n,
        "accuracy": acc.value, "ci_lo": acc.lo, "ci_hi": acc.hi, "accuracy_norm": norm, "items": per_item,
    }  # fmt: skip


def public_json(result: dict[str, Any]) -> dict[str, Any]:
    """The `eval run --json` object: n, accuracy, ci95, accuracy_norm, items (index, pred, correct, option_scores)."""
    return {
        "n": result["n"],
        "accuracy": result["accuracy"],
        "ci95": [result["ci_lo"], result["ci_hi"]],
        "accuracy_norm": result["accuracy_norm"],
        "items": [{k: r[k] for k in PUBLIC_ITEM_KEYS} for r in result["items"]],
    }


def save(store: Any, result: dict[str, Any], experiment: str | None = None) -> int:
    """Store a result so the Fine-tune page and `eval results` show it."""
    from curation.store import evaluations

    record = {k: v for k, v in result.items() if k != "items"} | {"experiment": experiment}
    user = identity.current()
    return evaluations.save(store, record | {"author": user.name if user else config.get("author")}, result["items"])


def compare(a: dict[str, Any], b: dict[str, Any]) -> stats.Difference:
    """Paired bootstrap difference accuracy(b) - accuracy(a); both must be on the same item set."""
    if a["item_set_hash"] != b["item_set_hash"]:
        raise ValueError("paired comparison needs both models scored on the same item set (item_set_hash differs)")
    return stats.paired_difference([r["correct"] for r in a["items"]], [r["correct"] for r in b["items"]])
