"""Every stored score of one example, for the record view: one line per signal (CoT, judge rubrics, language,
quality, PII ... and any operation registered later), read from the signals table."""

from __future__ import annotations

import json
from typing import Any

from curation.store.core import Store

_TITLES = {"cot": "CoT score", "judge": "judge"}


def example_scores(store: Store, example_id: int) -> list[dict[str, Any]]:
    """(name, score, label, detail, stale) of every signal stored for `example_id`, by name and variant; `stale` when
    the row was edited after scoring."""
    rows = store.query_rows(
        "SELECT s.name, s.variant, s.score, s.label, s.evidence, s.example_version <> e.version "
        "FROM signals s JOIN examples e ON e.id = s.example_id WHERE s.example_id = ? ORDER BY s.name, s.variant",
        [int(example_id)],
    )
    found = []
    for name, variant, score, label, evidence, stale in rows:
        title = _TITLES.get(name, name)
        data = json.loads(evidence) if isinstance(evidence, str) and evidence else evidence
        detail = data.get("reason") if isinstance(data, dict) and data.get("reason") else (label or "")
        found.append(
            {
                "name": f"{title}: {variant}" if variant else title,
                "score": None if score is None else float(score),
                "label": label,
                "detail": detail,
                "stale": bool(stale),
            }
        )
    return found
