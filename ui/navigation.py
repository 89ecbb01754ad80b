"""Where the user is on a page survives actions, reruns and reloads: tabs and widgets bound to the URL."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st


def kept_tabs(labels: Sequence[str], key: str) -> Sequence:
    """Tabs that stay on the chosen one after any action, and after a reload (the URL holds `?key=label`)."""
    return st.tabs(list(labels), key=key, bind="query-params")
