"""An object with the same key twice is refused with its line and row (JSON would silently keep the last value)."""

from __future__ import annotations

import pytest

from curation.io import importers
from curation.io.importers import InvalidInputError
from curation.store import examples

DUPLICATE = b'{"instruction":"first","instruction":"second","output":"o"}'
FINE = b'{"instruction":"fine","output":"o"}'


@pytest.mark.parametrize(
    ("name", "fmt", "data", "where"),
    [
        ("dup.jsonl", "jsonl", FINE + b"\n" + DUPLICATE + b"\n", "dup.jsonl line 2 (row 1)"),
        ("dup.json", "alpaca", b"[\n" + FINE + b",\n" + DUPLICATE + b"\n]", "dup.json line 3 (row 1)"),
        ("nested.jsonl", "jsonl", b'{"instruction":"i","output":"o","meta":{"a":1,"a":2}}\n', "nested.jsonl line 1"),
    ],
)
def test_duplicate_keys_are_refused_with_line_and_row(make_store, name, fmt, data, where) -> None:
    store = make_store([{"instruction": "existing"}])
    with pytest.raises(InvalidInputError) as err:
        importers.import_bytes(store, data, name, fmt)
    first = err.value.errors[0]
    assert first.startswith(where), first
    assert "duplicate key 'instruction'" in first or "duplicate key 'a'" in first
    assert examples.count(store) == 1


def test_the_same_key_in_different_objects_is_fine(make_store) -> None:
    store = make_store([])
    data = b'{"instruction":"a","output":"o"}\n{"instruction":"b","output":"o"}\n'
    assert importers.import_bytes(store, data, "ok.jsonl", "jsonl").rows == 2
