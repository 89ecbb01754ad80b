"""The whole example at a readable size: instruction, input and output as text boxes that scroll on their own (a
tall example never pushes the controls off screen), optionally with the tokens shared with another row marked."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from curation.dedup.highlight import highlighted_html

FIELDS = ("instruction", "input", "output")
LABELS = {"instruction": "Instruction", "input": "Input", "output": "Output"}
BOX_HEIGHT = "14em"


def _text(row: Mapping, field: str) -> str:
    value = row.get(field)
    return "" if value is None or value != value else str(value)  # NaN from a DataFrame is no text


def field_html(label: str, field: str, body: str, max_height: str) -> str:
    """One labelled, scrollable box; `body` is already safe HTML."""
    return (
        f'<div data-field="{field}" style="margin-bottom:0.5em">'
        f'<div style="font-size:0.8em;font-weight:600;opacity:0.7">{html.escape(label)}</div>'
        f'<div style="max-height:{max_height};overflow-y:auto;border:1px solid rgba(128,128,128,0.3);'
        f'border-radius:0.3em;padding:0.25em 0.4em">{body}</div></div>'
    )


def example_html(
    row: Mapping,
    other: Mapping | None = None,
    *,
    fields: Sequence[str] = FIELDS,
    tokenizer: str = "rouge",
    max_height: str = BOX_HEIGHT,
) -> str:
    """Instruction, input and output of `row`, each in its own box; with `other`, the tokens each field shares with
    the same field of `other` are marked. An empty field shows "(empty)" in italics, outside the text itself."""
    parts = []
    for field in fields:
        text = _text(row, field)
        if not text:
            body = '<em style="opacity:0.6">(empty)</em>'
        else:
            body = highlighted_html(text, None if other is None else _text(other, field), tokenizer)
        parts.append(field_html(LABELS.get(field, field), field, body, max_height))
    return "".join(parts)
