"""Signed session tokens, so a browser's login survives a reload (kept in a cookie by the app).

A token is `ID.EXPIRY.SIGNATURE`: an HMAC-SHA256 over `ID.EXPIRY` with a secret kept in the database (created on
first use; the database file is 0600). The ID names a row of `auth_sessions` holding the user and the role at sign-in,
so a token is refused once it expired, once its user signed out (the row is revoked), or once the user's role in the
users file differs from the role it was issued for (or the user is gone).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from curation import config
from curation.identity import User
from curation.store import Store
from curation.store import team as team_store
from curation.team.accounts import Account

SECRET_FACT = "session_secret"
COOKIE = "instruct_curator_session"


def _secret(store: Store) -> bytes:
    value = store.fact(SECRET_FACT)
    if value is None:
        store.set_fact(SECRET_FACT, secrets.token_hex(32))
        value = store.fact(SECRET_FACT)
    return bytes.fromhex(str(value))


def _sign(store: Store, payload: str) -> str:
    return hmac.new(_secret(store), payload.encode("ascii"), hashlib.sha256).hexdigest()


def lifetime_s() -> float:
    """How long a sign-in lasts (the `session_minutes` setting), in seconds."""
    return 60 * float(config.get("session_minutes"))


def issue(store: Store, user: User) -> str:
    """A new session token for `user`, valid for `session_minutes`."""
    token_id = secrets.token_urlsafe(18)
    team_store.create_session(store, token_id, user.name, user.role, lifetime_s())
    payload = f"{token_id}.{int(time.time() + lifetime_s())}"
    return f"{payload}.{_sign(store, payload)}"


def _token_id(store: Store, token: str) -> str | None:
    """The ID of a well-formed, correctly signed, unexpired token; None otherwise."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    token_id, expiry, signature = parts
    if not hmac.compare_digest(_sign(store, f"{token_id}.{expiry}"), signature):
        return None
    return token_id if int(expiry) > time.time() else None


def verify(store: Store, token: str, accounts: dict[str, Account]) -> tuple[User, float] | None:
    """(user, seconds since sign-in) for a token that still holds; None (and the session revoked when its user's
    role changed or the user is gone) otherwise."""
    token_id = _token_id(store, token)
    session = team_store.live_session(store, token_id) if token_id else None
    if session is None:
        return None
    account = accounts.get(session["username"])
    if account is None or account.role != session["role"]:
        team_store.revoke_session(store, str(token_id))
        return None
    return account.user, float(session["age_s"])


def revoke(store: Store, token: str) -> None:
    """Sign-out: the token no longer signs anyone in (even if the browser keeps the cookie)."""
    token_id = _token_id(store, token)
    if token_id:
        team_store.revoke_session(store, token_id)
