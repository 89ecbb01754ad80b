"""The project's own sample data (data/sample/, written by data/sample/make_sample.py) for a new, empty store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from curation import identity
from curation.config import DATA_DIR
from curation.io import importers
from curation.store import Store, examples

SAMPLE_DIR = DATA_DIR / "sample"
# Fields the sample files carry as extra keys (so they survive any importer) and that become columns here.
_LIFTED = ("status", "status_reason", "template_id", "format", "provenance")


@dataclass(frozen=True)
class SampleFile:
    """One sample file and how to import it."""

    file_name: str
    format: str
    origin: str
    mapping: dict[str, str] | None = None


SAMPLE_FILES = (
    SampleFile("seed_tasks.jsonl", "selfinstruct-seed", "seed"),
    SampleFile("alpaca_general.json", "alpaca", "imported"),
    SampleFile("templated.jsonl", "jsonl", "templated"),
    SampleFile("generated.jsonl", "jsonl", "generated"),
    SampleFile("conversations.jsonl", "messages", "imported"),
    SampleFile("cot_reasoning.tsv", "flan-cot-tsv", "imported"),
    SampleFile(
        "spreadsheet.csv", "csv", "imported", {"instruction": "prompt", "output": "response", "task": "category"}
    ),
)


def _lift(rows: pd.DataFrame) -> pd.DataFrame:
    """Move the sample's review/template/provenance keys from `meta` into their own columns."""
    metas = [dict(m) if isinstance(m, dict) else {} for m in rows.get("meta", [None] * len(rows))]
    for field in _LIFTED:
        values = [m.pop(field, None) for m in metas]
        if any(v is not None for v in values):
            rows[field] = values
    rows["meta"] = [m or None for m in metas]
    if "status" in rows:
        rows["status"] = rows["status"].fillna("pending")
    return rows


def load_sample(store: Store, folder: Path = SAMPLE_DIR) -> int:
    """Import every sample file as its own source, all in one transaction; returns rows added."""
    added = 0
    with store.transaction():
        for sample in SAMPLE_FILES:
            data = (folder / sample.file_name).read_bytes()
            rows = importers.parse(data, sample.file_name, sample.format, mapping=sample.mapping, origin=sample.origin)
            info = examples.SourceInfo(
                name=f"sample-{Path(sample.file_name).stem}",
                format=sample.format,
                file_name=sample.file_name,
                sha256=hashlib.sha256(data).hexdigest(),
                options={"mapping": sample.mapping, "origin": sample.origin, "sample": True},
                author="sample",
            )
            added += len(examples.add_examples(store, _lift(rows), info))
    return added


def ensure_sample(store: Store) -> int:
    """Fill an empty store with the sample data; returns rows added (0 when the store already has examples)."""
    if examples.count(store) > 0 or not SAMPLE_DIR.exists():
        return 0
    with identity.acting_as(identity.SYSTEM):
        return load_sample(store)
