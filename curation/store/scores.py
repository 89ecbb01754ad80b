"""Every stored score of one example, for the record view: the CoT detector score and each judge rating.

The one place the record view reads scores from; when the scores move into a generic signals table, only
`example_scores` changes.
"""

from __future__ import annotations

from typing import Any

from curation.store.core import Store


def example_scores(store: Store, example_id: int) -> list[dict[str, Any]]:
    """(name, score, detail) of every score stored for `example_id`: the CoT score, then judge ratings by rubric."""
    cot = store.query_rows("SELECT score FROM cot_scores WHERE example_id = ?", [int(example_id)])
    found = [{"name": "CoT score", "score": float(cot[0][0]), "detail": "reasoning detector"}] if cot else []
    ratings = store.query_rows(
        "SELECT rubric, score, reason FROM example_ratings WHERE example_id = ? ORDER BY rubric", [int(example_id)]
    )
    for rubric, score, reason in ratings:
        found.append({"name": f"judge: {rubric}", "score": None if score is None else float(score), "detail": reason})
    return found
