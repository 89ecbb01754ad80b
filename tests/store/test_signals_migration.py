"""A database written by the schema before the signals store (0501) opens with every score kept."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from curation.filters import ExampleFilter
from curation.store import Store, core, examples, ratings
from curation.store import cot as cot_store
from curation.store import dedup as dedup_store
from curation.store import signals as signals_store

COT = [(1, 0.91, [{"name": "answer_marker", "weight": 0.5}], 1), (2, 0.12, [], 3), (4, 0.5, None, 1)]
RATINGS = [  # (example_id, rubric, score, reason, model, job_id)
    (1, "accuracy", 4.0, "right", "judge-a", 7),
    (2, "accuracy", None, "no score in the answer: ok", "judge-a", 7),
    (2, "style", 2.5, "terse", "judge-b", 9),
    (3, "style", 1.0, "off topic", "judge-b", 9),
]
MATCHES = [  # (run_id, example_id, eval_row, score)
    (1, 1, 10, 0.8),
    (1, 1, 12, 0.95),
    (1, 3, 10, 0.71),
    (2, 1, 0, 0.99),
]


def _old_store(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = [m for m in core._migration_files() if m[0] < "0501"]
    assert before and all(name < "0501" for name, _ in before)
    with monkeypatch.context() as patch:
        patch.setattr(core, "_migration_files", lambda: before)
        store = Store(path)
        rows = pd.DataFrame([{"instruction": f"q{i}", "output": f"a{i}"} for i in range(1, 5)])
        examples.add_examples(store, rows, examples.SourceInfo(name="old", format="test"))
        store.execute("UPDATE examples SET version = 3 WHERE id = 2")
        for example_id, score, sigs, version in COT:
            store.execute(
                "INSERT INTO cot_scores (example_id, score, signals, example_version) VALUES (?, ?, ?, ?)",
                [example_id, score, None if sigs is None else json.dumps(sigs), version],
            )
        for row in RATINGS:
            store.execute(
                "INSERT INTO example_ratings (example_id, rubric, score, reason, model, job_id) VALUES (?,?,?,?,?,?)",
                list(row),
            )
        for run_id, eval_file in ((1, "mmlu.jsonl"), (2, "gsm8k.jsonl")):
            store.execute(
                "INSERT INTO dedup_runs (id, method, mode, scope, threshold, rule, params, author) "
                "VALUES (?, 'contamination', 'rouge', 'instruction', 0.7, 'ge', ?, 'old-author')",
                [run_id, json.dumps({"eval_file": eval_file})],
            )
        for row in MATCHES:
            store.execute(
                "INSERT INTO contamination_matches (run_id, example_id, eval_row, score) VALUES (?, ?, ?, ?)", list(row)
            )
        assert "0501_signals" not in store.applied_migrations()
        store.close()


def test_previous_schema_migrates_with_every_score_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.duckdb"
    _old_store(path, monkeypatch)
    store = Store(path)
    assert "0501_signals" in store.applied_migrations()
    tables = {r[0] for r in store.query_rows("SELECT table_name FROM information_schema.tables")}
    assert not tables & {"cot_scores", "example_ratings", "contamination_matches"}

    cot = signals_store.results(store, "cot")
    assert cot["example_id"].tolist() == [1, 2, 4]
    assert cot["score"].tolist() == [0.91, 0.12, 0.5]
    assert cot["example_version"].tolist() == [1, 3, 1]
    assert cot_store.signals_of(store, 1) == COT[0][2]
    assert cot_store.signals_of(store, 4) == []
    assert cot_store.count_to_score(store) == 1  # only row 3 was never scored

    for rubric in ("accuracy", "style"):
        expected = [(i, s, reason, model, job) for i, r, s, reason, model, job in RATINGS if r == rubric]
        got = ratings.ratings(store, rubric)
        got = [
            (int(i), None if pd.isna(s) else float(s), reason, model, int(job))
            for i, s, reason, model, job in got.itertuples(index=False)
        ]
        assert got == expected
    assert ratings.rated_rubrics(store) == ["accuracy", "style"]
    assert ratings.unrated_ids(store, "style", ExampleFilter()) == [1, 4]
    # the old rating filter still filters, as a clause on the judge signal
    assert examples.page(store, ExampleFilter(rating_rubric="style", max_rating=2.0))["id"].tolist() == [3]
    assert examples.page(store, ExampleFilter(rating_rubric="accuracy"))["id"].tolist() == [1]

    for run_id in (1, 2):
        expected = sorted((i, r, s) for run, i, r, s in MATCHES if run == run_id)
        got = dedup_store.matches(store, run_id)
        assert sorted(zip(got["example_id"], got["eval_row"], got["score"], strict=True)) == expected
    best = signals_store.results(store, "contamination", "1")
    assert best[["example_id", "score", "label"]].values.tolist() == [
        [1, 0.95, "contaminated"],
        [3, 0.71, "contaminated"],
    ]
    assert best["evidence"][0]["eval_file"] == "mmlu.jsonl"

    runs = signals_store.list_runs(store).sort_values("id")
    assert runs[["name", "variant"]].values.tolist() == [
        ["cot", ""], ["judge", "accuracy"], ["judge", "style"], ["contamination", "1"], ["contamination", "2"]
    ]  # fmt: skip
    assert json.loads(runs["counts"].iloc[1]) == {"rated": 1, "unusable": 1}
    store.close()


def test_a_new_database_has_the_signals_store_only(store: Store) -> None:
    assert signals_store.catalog(store).empty
    assert store.query_value("SELECT count(*) FROM signal_runs") == 0
