"""Showing user text inertly where Streamlit would otherwise interpret Markdown (alerts, captions, labels)."""

from __future__ import annotations

import json
import re

import pandas as pd

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def inert(text: object) -> str:
    """`text` with every Markdown/HTML-significant character backslash-escaped, for st.success/st.error/...."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def plain_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy for showing: text and time columns without raw `None`, lists (and JSON-list text) as "a, b"."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object or pd.api.types.is_string_dtype(shown[column]):
            shown[column] = [_plain(v) for v in shown[column]]
        elif pd.api.types.is_datetime64_any_dtype(shown[column]) and shown[column].isna().any():
            shown[column] = shown[column].dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
    return shown


def _plain(value: object) -> object:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            items = json.loads(value)
        except ValueError:
            return value
        return ", ".join(map(str, items)) if isinstance(items, list) else value
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return ", ".join(map(str, value))
    return value
