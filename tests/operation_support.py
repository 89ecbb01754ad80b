"""A placeholder operation for tests of the shared machinery (registered on import as `test-size`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from curation.operations import base

ROWS = [
    {"instruction": "a", "output": "tiny"},
    {"instruction": "b", "output": "a much longer answer here"},
    {"instruction": "c", "output": "my secret is long enough"},
    {"instruction": "d", "output": "ok"},
]


class SizeOperation(base.Operation):
    """Placeholder operation for these tests: score = output characters / 100, label short/long."""

    name = "test-size"
    title = "Output size"
    description = "characters in the output"
    defaults: Mapping[str, Any] = {"max_chars": 10, "redact": False, "unit": "chars"}
    variant_param = "unit"

    def score(self, rows: Sequence[base.RowText], params: Mapping[str, Any]) -> list[base.Signal]:
        return [
            base.Signal(
                r.id,
                len(r.output) / 100,
                "long" if len(r.output) > params["max_chars"] else "short",
                {"chars": len(r.output), "version": r.version},
            )
            for r in rows
        ]

    def decide(self, signals: Sequence[base.Signal], params: Mapping[str, Any]) -> list[base.Decision]:
        out = []
        for s in signals:
            if s.label != "long":
                continue
            if params["redact"] and s.evidence.get("chars") == 24:  # row 3, "my secret ..."
                out.append(base.Decision(s.id, "secret", edits={"output": "my [REDACTED] is long enough"}))
            else:
                out.append(base.Decision(s.id, f"over {params['max_chars']} chars", "rejected", add_tags=("long",)))
        return out


base.register(SizeOperation())
