"""Where the user is on a page survives actions, reruns and reloads: tabs and widgets bound to the URL."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx


def kept_tabs(labels: Sequence[str], key: str) -> Sequence:
    """Tabs that stay on the chosen one after any action, and after a reload (the URL holds `?key=label`)."""
    return st.tabs(list(labels), key=key, bind="query-params")


def unknown_page(pages: dict[str, list[st.Page]]) -> str | None:
    """The page name of a typed or mistyped URL that matches no page (Streamlit would run the default page)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    manager = getattr(ctx, "pages_manager", None)
    if manager is None or manager.intended_page_script_hash or not manager.intended_page_name:
        return None
    known = {page.url_path for section in pages.values() for page in section}
    return None if manager.intended_page_name in known else manager.intended_page_name
