"""Sign-in for the app: local accounts (bcrypt, rate-limited and logged) or an identity provider through
`st.login` (OIDC, when `[auth]` is configured in secrets.toml); session expiry; who may see which page.

With no users file, login is off: one person on one machine, and the app refuses to serve beyond localhost
unless started with `python -m curation serve --allow-open`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import NoReturn

import streamlit as st

from curation.identity import User
from curation.team import accounts, sessions
from ui.state import SESSION_KEY, expired, get_store
from ui.text import inert


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all
        return False


def _open_address_allowed() -> bool:
    """Whether login may be off: the server is bound to loopback (or a Unix socket), or --allow-open was given.

    An empty or unset `server.address` is not loopback: Streamlit then listens on every interface.
    """
    return accounts.serves_locally_only(st.get_option("server.address")) or (
        os.environ.get("INSTRUCT_CURATOR_ALLOW_OPEN") == "1"
    )


def _sign_in_form(accounts_by_name: dict[str, accounts.Account]) -> None:
    st.title("Sign in")
    if st.session_state.pop("auth_notice", None):
        st.info("Your session expired; sign in again.")
    with st.form("auth_form"):
        name = st.text_input("User name", key="auth_name")
        password = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Sign in", type="primary", key="auth_submit")
    if submitted:
        try:
            user = accounts.sign_in(get_store(), accounts_by_name, name, password)
        except accounts.SignInError as err:
            st.error(inert(err))
        else:
            _start_session(user)
            st.rerun()
    if _oidc_configured():
        st.button("Sign in with your identity provider", key="auth_oidc", on_click=st.login)


def _from_identity_provider(accounts_by_name: dict[str, accounts.Account], stop: Callable[[], NoReturn]) -> None:
    """Map an OIDC login to an account by e-mail; unknown addresses get no role."""
    if not _oidc_configured() or not st.user.is_logged_in or SESSION_KEY in st.session_state:
        return
    account = accounts.account_for_identity(accounts_by_name, st.user.to_dict())
    if account is None:
        st.error(
            inert(
                f"{st.user.get('email')} has no account here, or the identity provider did not verify it; "
                "ask an admin to add it to the users file."
            )
        )
        st.button("Sign out", on_click=st.logout)
        stop()
    _start_session(account.user)


COOKIE_WRITE = "auth_cookie_write"  # session_state: the cookie to write on the next run (a token, or "" to clear)


def _start_session(user: User) -> None:
    """Remember the user in this session and, through a signed token in a cookie, across reloads."""
    token = sessions.issue(get_store(), user)
    st.session_state[SESSION_KEY] = {"name": user.name, "role": user.role, "at": time.time(), "token": token}
    st.session_state[COOKIE_WRITE] = token


def _write_cookie() -> None:
    """Set or clear the session cookie in the browser (Streamlit reads cookies, but only a script can set one)."""
    token = st.session_state.pop(COOKIE_WRITE, None)
    if token is None:
        return
    max_age = int(sessions.lifetime_s()) if token else 0
    cookie = f"{sessions.COOKIE}={token}; path=/; max-age={max_age}; samesite=strict"
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)} + "
        "(window.location.protocol === 'https:' ? '; secure' : '');</script>",
        unsafe_allow_javascript=True,
    )


def _from_cookie(accounts_by_name: dict[str, accounts.Account]) -> None:
    """Restore a sign-in from the session cookie after a reload, if its token still holds."""
    if SESSION_KEY in st.session_state:
        return
    token = st.context.cookies.get(sessions.COOKIE) if st.context.cookies else None
    if not token or token == st.session_state.get("auth_signed_out_token"):
        return
    found = sessions.verify(get_store(), token, accounts_by_name)
    if found is None:
        st.session_state[COOKIE_WRITE] = ""  # a dead token: clear it
        return
    user, age_s = found
    st.session_state[SESSION_KEY] = {"name": user.name, "role": user.role, "at": time.time() - age_s, "token": token}


def sign_out() -> None:
    entry = st.session_state.pop(SESSION_KEY, None) or {}
    if entry.get("token"):
        sessions.revoke(get_store(), entry["token"])
        st.session_state["auth_signed_out_token"] = entry["token"]  # this tab's cookie header still carries it
    st.session_state[COOKIE_WRITE] = ""
    if _oidc_configured() and st.user.is_logged_in:
        st.logout()


def gate(hidden_navigation: Callable[[], object] | None = None) -> User | None:
    """Stop the page unless someone may use it: the signed-in user, or None when login is off.

    `hidden_navigation` declares the app's pages (hidden) before a stop, after the sign-in form is drawn: the
    sidebar then never falls back to listing pages/, and the requested URL (a deep link) survives the sign-in.
    It runs after the form so that the form's widgets keep their identity across reruns.
    """

    def stop() -> NoReturn:
        if hidden_navigation is not None:
            hidden_navigation()
        st.stop()

    if not accounts.auth_enabled():
        if not _open_address_allowed():
            print("instruct-curator: login is off; refusing a non-local address", file=sys.stderr)
            st.error(
                "Login is off, so this app only serves localhost. Set INSTRUCT_CURATOR_USERS_FILE to a users file, "
                "or start it with `python -m curation serve --address ... --allow-open` on a trusted network."
            )
            stop()
        return None
    try:
        accounts_by_name = accounts.current_accounts()
    except ValueError as err:
        st.error(inert(err))
        stop()
    _from_identity_provider(accounts_by_name, stop)
    _from_cookie(accounts_by_name)
    _write_cookie()
    entry = st.session_state.get(SESSION_KEY)
    if entry and expired(entry):
        st.session_state.pop(SESSION_KEY)
        st.session_state["auth_notice"] = True
        entry = None
    if not entry or entry["name"] not in accounts_by_name:
        _sign_in_form(accounts_by_name)
        stop()
    user = accounts_by_name[entry["name"]].user  # the role in the users file now, not the one at sign-in
    with st.sidebar:
        st.caption(inert(f"Signed in as {user.name} ({user.role})"))
        st.button("Sign out", key="auth_sign_out", on_click=sign_out)
    return user


def may(user: User | None, role: str) -> bool:
    """Whether `user` (None: login off) holds at least `role` — for showing pages and buttons."""
    return user is None or user.at_least(role)
