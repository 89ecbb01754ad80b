"""Reading JSON arrays and JSON Lines strictly, with the line and 0-based row of every item and every problem.

JSON Lines are split on "\\n" only: `str.splitlines()` also splits on U+2028, U+2029, U+0085 and others, which
JSON allows unescaped inside strings. Nothing after the closing `]` of an array is ignored. Nesting deeper than
Python's recursion limit and lone UTF-16 surrogates (`"\\ud800"`) are reported, not raised as tracebacks. An object
with the same key twice (`{"instruction": "a", "instruction": "b"}`) is reported: `json` would silently keep the last.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class At:
    """Where a record is: its first line in the file (None for Parquet) and its 0-based row index."""

    line: int | None
    row: int | None = None

    def __str__(self) -> str:
        parts = [f"line {self.line}" if self.line else "", f"row {self.row}" if self.row is not None else ""]
        if all(parts):
            return f"{parts[0]} (row {self.row})"
        return parts[0] or parts[1]


class JsonSyntaxError(ValueError):
    """The file is not valid JSON at a place; reading stops there."""

    def __init__(self, at: At, message: str) -> None:
        super().__init__(f"{at}: {message}")
        self.at, self.message = at, message


Report = Callable[[At, str], None]
_WHITESPACE = " \t\r\n"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
TOO_DEEP = "JSON nested too deeply (about 1,000 levels or more); flatten the record"


def lone_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a lone UTF-16 surrogate, or None."""
    if isinstance(value, str):
        return path or "value" if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = lone_surrogate(key, path or "key") or lone_surrogate(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate(item, f"{path}[{index}]")
            if found:
                return found
    return None


class _DuplicateKeys:
    """An `object_pairs_hook` that builds dicts as `json` does and remembers keys seen twice in one object."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result and len(self.found) < 5:
                self.found.append(key)
            result[key] = value
        return result

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found


def _checked(at: At, item: Any, raw: str, report: Report, duplicates: _DuplicateKeys) -> tuple[bool, Any]:
    """(ok, item): an item with a duplicate key or a lone surrogate is reported (surrogates are only scanned for
    when the raw text has such an escape)."""
    repeated = duplicates.take()
    if repeated:
        shown = ", ".join(f"'{key}'" for key in dict.fromkeys(repeated))
        report(at, f"duplicate key {shown} in one object (JSON would keep only the last value); remove the extra one")
        return False, None
    if _SURROGATE_ESCAPE.search(raw):
        where = lone_surrogate(item)
        if where:
            report(at, f"field '{where}' holds a lone UTF-16 surrogate (e.g. \\ud800), which is not valid Unicode")
            return False, None
    return True, item


def json_lines(text: str, report: Report) -> Iterator[tuple[At, Any]]:
    """(At, value) for each non-blank line; malformed lines are reported and skipped."""
    row, duplicates = 0, _DuplicateKeys()
    decoder = json.JSONDecoder(object_pairs_hook=duplicates)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(_WHITESPACE):
            continue
        at = At(number, row)
        row += 1
        try:
            ok, item = _checked(at, decoder.decode(line), line, report, duplicates)
        except json.JSONDecodeError as err:
            duplicates.take()
            report(at, f"malformed JSON ({err.msg} at column {err.colno})")
            continue
        except RecursionError:
            duplicates.take()
            report(at, TOO_DEEP)
            continue
        if ok:
            yield at, item


def json_array(text: str, report: Report) -> Iterator[tuple[At, Any]]:
    """(At, value) for each item of a top-level JSON array; anything after the closing `]` is an error."""
    duplicates = _DuplicateKeys()
    decoder = json.JSONDecoder(object_pairs_hook=duplicates)
    n, pos, row = len(text), 0, 0
    scan = _SURROGATE_ESCAPE.search(text) is not None  # only then is any item worth scanning

    def skip(p: int) -> int:
        while p < n and text[p] in _WHITESPACE:
            p += 1
        return p

    def line_of(p: int) -> int:
        return text.count("\n", 0, p) + 1

    pos = skip(pos)
    if pos >= n or text[pos] != "[":
        raise JsonSyntaxError(At(1), "expected a JSON array of objects ('[' first)")
    pos, line, counted = pos + 1, 1, 0
    while True:
        pos = skip(pos)
        line += text.count("\n", counted, pos)
        counted = pos
        if pos < n and text[pos] == "]" and row == 0:
            break
        at = At(line, row)
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise JsonSyntaxError(At(err.lineno, row), f"malformed JSON ({err.msg})") from err
        except RecursionError as err:
            raise JsonSyntaxError(at, TOO_DEEP) from err
        ok, item = _checked(at, item, text[pos:end] if scan else "", report, duplicates)
        if ok:
            yield at, item
        row += 1
        pos = skip(end)
        if pos < n and text[pos] == ",":
            pos += 1
        elif pos < n and text[pos] == "]":
            break
        else:
            raise JsonSyntaxError(At(line_of(pos), row), "expected ',' or ']' between array items")
    end = skip(pos + 1)
    if end < n:
        raise JsonSyntaxError(
            At(line_of(end)), "unexpected content after the end of the JSON array (one array per file)"
        )
