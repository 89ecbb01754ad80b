"""Generation checkpoints and answered requests, so an interrupted run resumes without re-sending anything."""

from __future__ import annotations

import json
from typing import Any

from curation.store.core import Store


def save_checkpoint(store: Store, run_id: int, state: dict[str, Any]) -> None:
    """Replace the run's checkpoint (call inside the transaction that writes the round's rows)."""
    store.execute(
        "INSERT OR REPLACE INTO generation_checkpoints (run_id, state, updated_at) VALUES (?, ?, now())",
        [int(run_id), json.dumps(state, ensure_ascii=False)],
    )


def load_checkpoint(store: Store, run_id: int) -> dict[str, Any] | None:
    raw = store.query_value("SELECT state FROM generation_checkpoints WHERE run_id = ?", [int(run_id)])
    return json.loads(raw) if raw else None


def save_response(store: Store, run_id: int, key: str, text: str, finish_reason: str, usage: tuple[int, int]) -> None:
    """Record one answered request (first answer wins)."""
    store.execute(
        "INSERT INTO generation_responses VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [int(run_id), key, text, finish_reason, int(usage[0]), int(usage[1])],
    )


def load_responses(store: Store, run_id: int) -> dict[str, tuple[str, str, int, int]]:
    """request key -> (text, finish_reason, prompt_tokens, completion_tokens) of every answered request."""
    rows = store.query_rows(
        "SELECT request_key, text, finish_reason, prompt_tokens, completion_tokens FROM generation_responses "
        "WHERE run_id = ?",
        [int(run_id)],
    )
    return {key: (text, reason, int(p), int(c)) for key, text, reason, p, c in rows}


def response_count(store: Store, run_id: int) -> int:
    return int(store.query_value("SELECT count(*) FROM generation_responses WHERE run_id = ?", [int(run_id)]))
