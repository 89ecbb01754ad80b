"""One-shot messages that survive the rerun a button causes ("flash"), shown once where the page chooses, and
refusals: an action the signed-in role may not take becomes one error line instead of a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import streamlit as st

from curation.identity import PermissionDenied
from ui.text import inert

REFUSED = "refused_flash"


def flash(key: str, level: str, message: str, detail: str | None = None) -> None:
    """Queue a message for the next run; `message` is ours (ids, counts), `detail` may hold user text."""
    st.session_state[key] = (level, message, detail)


def show_flash(key: str) -> None:
    """Show and forget the queued message, if any; `detail` is shown as inert code text."""
    if key in st.session_state:
        level, message, detail = st.session_state.pop(key)
        getattr(st, level)(message)
        if detail:
            st.code(detail, language=None, wrap_lines=True)


def refusal_shown(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a widget callback so the store's PermissionDenied becomes a one-line error on the next run.

    Callbacks run before the page script, outside app.py's guard, where an exception would be drawn as a
    traceback. Every page shows the queued refusal at its top (`ui.state.get_store`).
    """

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except PermissionDenied as err:
            flash(REFUSED, "error", f"Refused: {inert(err)}.")
            return None

    return guarded


def show_refusal() -> None:
    """Show the refusal a callback queued, if any."""
    show_flash(REFUSED)
