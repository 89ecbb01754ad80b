"""One-shot messages that survive the rerun a button causes ("flash"), shown once where the page chooses."""

from __future__ import annotations

import streamlit as st


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
