"""SQL for team review: campaigns, assignments, per-annotator responses, sign-in log; the role check hook."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from curation import identity
from curation.store.core import Store

DECISIONS = ("approved", "rejected")


def authorize(store: Store, kind: str, ids: list[int] | None = None, fields: set[str] | None = None) -> None:
    """Raise PermissionDenied unless the acting user may do `kind` (annotators: only text on their assigned rows)."""
    identity.require(kind, ids=ids, fields=fields, assigned=lambda name: assigned_rows(store, name))


def create_campaign(
    store: Store,
    *,
    name: str,
    flt: dict[str, Any],
    annotators: list[str],
    overlap: int,
    guidelines: str,
    created_by: str,
    assignments: list[tuple[int, str]],
) -> int:
    """Record a campaign and its (example_id, annotator) assignments in one transaction."""
    with store.transaction():
        campaign_id = store.next_id("seq_campaigns")
        store.execute(
            "INSERT INTO campaigns (id, name, filter, annotators, overlap, guidelines, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [campaign_id, name, json.dumps(flt), json.dumps(annotators), overlap, guidelines, created_by],
        )
        frame = pd.DataFrame(assignments, columns=["example_id", "annotator"])
        frame.insert(0, "campaign_id", campaign_id)
        if not frame.empty:
            store.insert_df("campaign_assignments", frame)
    return campaign_id


def get_campaign(store: Store, campaign_id: int) -> dict[str, Any] | None:
    rows = store.query_dicts("SELECT * FROM campaigns WHERE id = ?", [campaign_id])
    if not rows:
        return None
    row = rows[0]
    row["annotators"] = json.loads(row["annotators"])
    row["filter"] = json.loads(row["filter"] or "{}")
    return row


def list_campaigns(store: Store) -> pd.DataFrame:
    return store.query_df(
        "SELECT c.id, c.name, c.overlap, c.annotators, c.created_by, c.created_at, c.closed_at, "
        "(SELECT count(DISTINCT example_id) FROM campaign_assignments a WHERE a.campaign_id = c.id) AS rows "
        "FROM campaigns c ORDER BY c.id DESC"
    )


def close_campaign(store: Store, campaign_id: int) -> None:
    store.execute("UPDATE campaigns SET closed_at = now() WHERE id = ? AND closed_at IS NULL", [campaign_id])


def assigned_rows(store: Store, annotator: str) -> set[int]:
    """Rows assigned to `annotator` in campaigns that are still open."""
    rows = store.query_rows(
        "SELECT DISTINCT a.example_id FROM campaign_assignments a JOIN campaigns c ON c.id = a.campaign_id "
        "WHERE a.annotator = ? AND c.closed_at IS NULL",
        [annotator],
    )
    return {int(r[0]) for r in rows}


def is_assigned(store: Store, campaign_id: int, example_id: int, annotator: str) -> bool:
    return bool(
        store.query_value(
            "SELECT count(*) FROM campaign_assignments WHERE campaign_id = ? AND example_id = ? AND annotator = ?",
            [campaign_id, example_id, annotator],
        )
    )


def add_response(
    store: Store, campaign_id: int, example_id: int, annotator: str, decision: str, reason: str | None
) -> int:
    """Append one annotator's decision on one row (the latest per annotator counts; older ones stay)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}; got {decision!r}")
    response_id = store.next_id("seq_responses")
    store.execute(
        "INSERT INTO campaign_responses (id, campaign_id, example_id, annotator, decision, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [response_id, campaign_id, example_id, annotator, decision, reason],
    )
    return response_id


def latest_responses(store: Store, campaign_id: int) -> pd.DataFrame:
    """The current decision of every annotator on every row they answered: example_id, annotator, decision."""
    return store.query_df(
        "SELECT example_id, annotator, decision, reason, created_at FROM campaign_responses "
        "WHERE campaign_id = ? QUALIFY row_number() OVER (PARTITION BY example_id, annotator ORDER BY id DESC) = 1 "
        "ORDER BY example_id, annotator",
        [campaign_id],
    )


def assignments(store: Store, campaign_id: int) -> pd.DataFrame:
    return store.query_df(
        "SELECT example_id, annotator FROM campaign_assignments WHERE campaign_id = ? ORDER BY example_id, annotator",
        [campaign_id],
    )


def queue(store: Store, campaign_id: int, annotator: str) -> list[int]:
    """Rows assigned to `annotator` in this campaign that they have not answered yet, in id order."""
    rows = store.query_rows(
        "SELECT a.example_id FROM campaign_assignments a WHERE a.campaign_id = ? AND a.annotator = ? "
        "AND NOT EXISTS (SELECT 1 FROM campaign_responses r WHERE r.campaign_id = a.campaign_id "
        "AND r.example_id = a.example_id AND r.annotator = a.annotator) ORDER BY a.example_id",
        [campaign_id, annotator],
    )
    return [int(r[0]) for r in rows]


def campaigns_of(store: Store, annotator: str) -> pd.DataFrame:
    """Open campaigns that assign rows to `annotator`."""
    return store.query_df(
        "SELECT DISTINCT c.id, c.name, c.guidelines FROM campaigns c JOIN campaign_assignments a "
        "ON a.campaign_id = c.id WHERE a.annotator = ? AND c.closed_at IS NULL ORDER BY c.id",
        [annotator],
    )


def log_login(store: Store, username: str, ok: bool, detail: str) -> int:
    """Record one sign-in attempt; returns its id (attempts are ordered by id)."""
    rows = store.execute_returning(
        "INSERT INTO login_events (username, ok, detail) VALUES (?, ?, ?) RETURNING id", [username, ok, detail]
    )
    return int(rows[0][0])


def settle_login(store: Store, attempt_id: int, ok: bool, detail: str) -> None:
    """Record how an attempt logged beforehand (as a failure) ended."""
    store.execute("UPDATE login_events SET ok = ?, detail = ? WHERE id = ?", [ok, detail, attempt_id])


def recent_failures(store: Store, username: str, window_s: int, *, excluding: int | None = None) -> int:
    """Failed (or still unsettled) sign-ins for `username` in the last `window_s` seconds, since its last success."""
    return int(
        store.query_value(
            "SELECT count(*) FROM login_events WHERE username = ? AND NOT ok AND id IS DISTINCT FROM ? "
            "AND logged_at > now() - to_seconds(?) AND id > coalesce((SELECT max(id) FROM login_events "
            "WHERE username = ? AND ok), 0)",
            [username, excluding, window_s, username],
        )
    )


def login_log(store: Store, limit: int = 100) -> pd.DataFrame:
    return store.query_df(
        "SELECT logged_at, username, ok, detail FROM login_events ORDER BY logged_at DESC LIMIT ?", [limit]
    )


def list_endpoints(store: Store) -> list[dict[str, Any]]:
    """The (api_key_env, base_url) pairs admins allowed, with who added them."""
    return store.query_dicts(
        "SELECT api_key_env, base_url, added_by, added_at FROM llm_endpoints ORDER BY base_url, api_key_env"
    )


def add_endpoint(store: Store, api_key_env: str, base_url: str, added_by: str) -> None:
    store.execute(
        "INSERT INTO llm_endpoints (api_key_env, base_url, added_by) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [api_key_env, base_url, added_by],
    )


def remove_endpoint(store: Store, api_key_env: str, base_url: str) -> bool:
    """Withdraw a pair; False if it was not listed."""
    rows = store.execute_returning(
        "DELETE FROM llm_endpoints WHERE api_key_env = ? AND base_url = ? RETURNING 1", [api_key_env, base_url]
    )
    return bool(rows)


def create_session(store: Store, token_id: str, username: str, role: str, expires_in_s: float) -> None:
    store.execute(
        "INSERT INTO auth_sessions (token_id, username, role, expires_at) VALUES (?, ?, ?, now() + to_seconds(?))",
        [token_id, username, role, float(expires_in_s)],
    )


def live_session(store: Store, token_id: str) -> dict[str, Any] | None:
    """A session that is neither revoked nor expired: username, role, seconds since it began."""
    rows = store.query_dicts(
        "SELECT username, role, epoch(now()) - epoch(created_at) AS age_s FROM auth_sessions "
        "WHERE token_id = ? AND revoked_at IS NULL AND expires_at > now()",
        [token_id],
    )
    return rows[0] if rows else None


def revoke_session(store: Store, token_id: str) -> None:
    store.execute("UPDATE auth_sessions SET revoked_at = now() WHERE token_id = ? AND revoked_at IS NULL", [token_id])
