"""Saved evaluation results: one row per (model, item set) scoring, per-item results as JSON."""

from __future__ import annotations

import json
from typing import Any

from curation.store.core import Store

COLUMNS = (
    "model", "model_path", "item_set", "item_set_hash", "experiment", "n", "accuracy", "ci_lo", "ci_hi",
    "accuracy_norm", "author",
)  # fmt: skip


def save(store: Store, record: dict[str, Any], items: list[dict[str, Any]]) -> int:
    """Insert one result (record holds COLUMNS; missing ones are NULL); returns its id."""
    new_id = store.next_id("evaluation_id_seq")
    values = [record.get(c) for c in COLUMNS]
    store.execute(
        f"INSERT INTO evaluations (id, {', '.join(COLUMNS)}, items) VALUES (?, {', '.join('?' for _ in COLUMNS)}, ?)",
        [new_id, *values, json.dumps(items, ensure_ascii=False, default=float)],
    )
    return new_id


def latest(store: Store, experiment: str | None = None, item_set_hash: str | None = None) -> list[dict[str, Any]]:
    """The newest result per (model, item set), optionally of one experiment / item set; newest first."""
    rows = store.query_dicts(
        "SELECT * FROM evaluations WHERE (? IS NULL OR experiment = ?) AND (? IS NULL OR item_set_hash = ?) "
        "QUALIFY row_number() OVER (PARTITION BY model, item_set_hash, experiment ORDER BY id DESC) = 1 "
        "ORDER BY id DESC",
        [experiment, experiment, item_set_hash, item_set_hash],
    )
    for row in rows:
        row["items"] = json.loads(row["items"])
    return rows


def listing(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Recent results without their per-item lists."""
    cols = ", ".join(["id", "created_at", *COLUMNS])
    return store.query_dicts(f"SELECT {cols} FROM evaluations ORDER BY id DESC LIMIT ?", [int(limit)])
