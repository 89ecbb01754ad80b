"""A row with several labels at once (PII kinds "email,phone") matches a label filter on any one of them."""

from __future__ import annotations

from curation.filters import ExampleFilter, SignalClause
from curation.operations import run
from curation.store import examples

ROWS = [
    {"instruction": "Contact", "output": "Mail jane.doe@example.com or call 415-555-0132."},
    {"instruction": "Mail only", "output": "Write to bob@example.org."},
    {"instruction": "Nothing", "output": "Blue."},
]


def _ids(store, *labels: str) -> list[int]:
    flt = ExampleFilter(signals=[SignalClause("pii", labels=labels).to_dict()])
    return sorted(examples.page(store, flt)["id"].tolist())


def test_label_filter_matches_any_of_a_rows_labels(make_store) -> None:
    store = make_store(ROWS)
    run.score_filtered(store, "pii")
    labels = dict(store.query_rows("SELECT example_id, label FROM signals WHERE name = 'pii'"))
    assert labels[1] == "email,phone" and labels[2] == "email"
    assert _ids(store, "email") == [1, 2]
    assert _ids(store, "phone") == [1]
    assert _ids(store, "card") == []
