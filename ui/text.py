"""Showing user text inertly where Streamlit would otherwise interpret Markdown (alerts, captions, labels)."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def inert(text: object) -> str:
    """`text` with every Markdown/HTML-significant character backslash-escaped, for st.success/st.error/...."""
    return _MARKDOWN.sub(r"\\\1", str(text))
