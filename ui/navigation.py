"""Where the user is on a page survives actions, reruns and reloads: tabs and widgets bound to the URL."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlparse

import streamlit as st


def kept_tabs(labels: Sequence[str], key: str) -> Sequence:
    """Tabs that stay on the chosen one after any action, and after a reload (the URL holds `?key=label`)."""
    return st.tabs(list(labels), key=key, bind="query-params")


def unknown_page(pages: dict[str, list[st.Page]]) -> str | None:
    """The path of a typed or mistyped URL that names none of `pages` (Streamlit would run the default page)."""
    url = st.context.url
    if not url:  # not from a browser (AppTest)
        return None
    path = urlparse(url).path.strip("/")
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :].strip("/")
    known = {page.url_path for section in pages.values() for page in section}
    return path if path and path not in known else None
