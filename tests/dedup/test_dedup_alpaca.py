"""Dedup decisions on real Alpaca instructions (../shared/data), checked pair by pair with the rouge-score package."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from rouge_score import rouge_scorer

from curation.dedup import runs
from curation.store import Store, examples

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
NO_INPUT = "alpaca_noinput_instructions_31323.json"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def alpaca_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = SHARED_DATA / NO_INPUT
    if not path.exists():
        pytest.skip("../shared/data is not present")
    rows = [{"instruction": r["instruction"], "output": ""} for r in json.loads(path.read_text(encoding="utf-8"))]
    store = Store(Path(tmp_path_factory.mktemp("alpaca")) / "alpaca.duckdb")
    examples.add_examples(store, pd.DataFrame(rows), examples.SourceInfo(name="alpaca", format="test"))
    yield store
    store.close()


def _check_every_dropped_row(outcome: runs.DedupOutcome, threshold: float, rule: str, store: Store) -> int:
    by_id = examples.fetch(store, None, ("id", "instruction")).set_index("id")["instruction"]
    texts = by_id.loc[outcome.rows["id"]].tolist()  # a run's rows carry no texts: what it compared, by id
    dropped = outcome.members[~outcome.members["keep"]]
    kept = set(outcome.members.loc[outcome.members["keep"], "row"])
    for row, kept_row, score in dropped[["row", "blocked_by", "score"]].itertuples(index=False, name=None):
        real = SCORER.score(texts[int(kept_row)], texts[row])["rougeL"].fmeasure
        assert int(kept_row) in kept and real == score, (row, kept_row, score, real)
        assert real >= threshold if rule == "ge" else real > threshold, (texts[row], texts[int(kept_row)], real)
    return len(dropped)


@pytest.mark.parametrize(
    ("threshold", "rows", "mode", "at_least"),
    [(0.5, 4000, "pairs", 1000), (0.5, 4000, "greedy", 1000), (0.7, None, "pairs", 438)],
)
def test_every_dropped_row_passes_the_rule_against_its_kept_row(alpaca_store, threshold, rows, mode, at_least) -> None:
    # The first `rows` ids (None: all 31,323); at 0.5 the old connected components chained 26,688 rows into one.
    cfg = runs.DedupConfig(threshold=threshold, rule="ge", mode=mode, order="id")
    if rows is not None:
        alpaca_store.execute("UPDATE examples SET status = 'rejected' WHERE id > ?", [rows])  # not compared
    try:
        outcome = runs.run_dedup(alpaca_store, cfg, save=False)
    finally:
        alpaca_store.execute("UPDATE examples SET status = 'pending'")
    assert _check_every_dropped_row(outcome, threshold, "ge", alpaca_store) >= at_least


def test_greedy_defaults_to_gt_and_drops_nothing_from_alpaca_at_0_7(alpaca_store) -> None:
    # Alpaca itself was filtered with "drop when ROUGE-L > 0.7"; the old default rule (>=) dropped 438 of its rows.
    outcome = runs.run_dedup(alpaca_store, runs.DedupConfig(threshold=0.7, mode="greedy"), save=False)
    assert len(outcome.rows) == 31_323 and outcome.summary()["duplicates"] == 0
