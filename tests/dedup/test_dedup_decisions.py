"""Dedup decisions are true: no chaining, scores in reasons, apply once, undo that says what changed since."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rouge_score import rouge_scorer
from typer.testing import CliRunner

from curation.cli import app
from curation.dedup import embeddings, runs
from curation.store import Store, revisions
from curation.store import dedup as dedup_store

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
# A~B and B~C at 0.5 (0.667 each) but A and C share only two of six words (0.333): a chain.
CHAIN = [
    {"instruction": "alpha beta gamma delta epsilon zeta", "output": "the longest output of all"},  # 1, kept first
    {"instruction": "alpha beta gamma delta eta theta", "output": "mid output"},  # 2
    {"instruction": "iota kappa gamma delta eta theta", "output": "x"},  # 3
    {"instruction": "something else entirely here", "output": "y"},  # 4
]


def rouge(a: str, b: str) -> float:
    return SCORER.score(a, b)["rougeL"].fmeasure


def marked(store: Store) -> dict[int, str]:
    return dict(store.query_rows("SELECT id, status_reason FROM examples WHERE status = 'duplicate' ORDER BY id"))


def test_pairs_mode_does_not_chain(make_store) -> None:
    store = make_store(CHAIN)
    outcome = runs.run_dedup(store, runs.DedupConfig(threshold=0.5), author="t")
    members = outcome.members.assign(id=outcome.rows["id"].to_numpy()[outcome.members["row"]])
    # old code: one cluster {1, 2, 3}, and 3 marked duplicate of 1 at a score of 0.333
    assert sorted(members[["id", "keep"]].values.tolist()) == [[1, True], [2, False]]
    runs.apply_run(store, outcome.run_id, author="t", accept_all=True)
    assert marked(store) == {2: "dedup run 1: duplicate of #1, score 0.666667 (ROUGE-L >= 0.5 on instruction, pairs)"}


def test_every_reason_names_a_kept_row_that_really_matches(make_store) -> None:
    rows = [{"instruction": " ".join(f"w{(i * 7 + k) % 23}" for k in range(6)), "output": "o" * i} for i in range(40)]
    store = make_store(rows)
    outcome = runs.run_dedup(store, runs.DedupConfig(threshold=0.3), author="t")
    runs.apply_run(store, outcome.run_id, author="t", accept_all=True)
    text = dict(store.query_rows("SELECT id, instruction FROM examples"))
    reasons = marked(store)
    assert len(reasons) > 5
    for row_id, reason in reasons.items():
        kept = int(reason.split("duplicate of #")[1].split(",")[0])
        score = rouge(text[kept], text[row_id])
        assert score >= 0.3 and f"score {score:.6g}" in reason
        assert kept not in reasons  # a kept row is never itself marked


def test_changing_the_kept_row_splits_off_members_that_do_not_match_it(make_store) -> None:
    rows = [
        {"instruction": "alpha beta gamma delta epsilon zeta", "output": "longest output here"},  # 1 kept
        {"instruction": "alpha beta gamma delta eta theta", "output": "b"},  # 2 ~1 (0.667), !~3
        {"instruction": "alpha beta iota kappa epsilon zeta", "output": "c"},  # 3 ~1 (0.667), ~2 (0.333)
    ]
    store = make_store(rows)
    run_id = runs.run_dedup(store, runs.DedupConfig(threshold=0.5), author="t").run_id
    assert dedup_store.set_kept(store, run_id, 0, 2) == 1  # 3 does not match 2: split off, not marked
    members = dedup_store.cluster_members(store, run_id, 0)
    assert members[["id", "keep", "split"]].values.tolist() == [[2, True, False], [1, False, False], [3, False, True]]
    runs.apply_run(store, run_id, author="t")
    assert list(marked(store)) == [1] and "duplicate of #2, score 0.666667" in marked(store)[1]


def test_not_duplicates_for_a_whole_cluster_and_search(make_store) -> None:
    store = make_store([*CHAIN, {"instruction": "something else entirely there", "output": "z"}])
    run_id = runs.run_dedup(store, runs.DedupConfig(threshold=0.5), author="t").run_id
    assert dedup_store.cluster_summary(store, run_id, search="ELSE entirely")["kept_id"].tolist() == [4]
    assert dedup_store.cluster_summary(store, run_id, search="100%").empty  # LIKE wildcards are literal
    assert dedup_store.split_cluster(store, run_id, 0) == 1
    assert dedup_store.duplicate_rows(store, run_id)["example_id"].tolist() == []
    summary = dedup_store.cluster_summary(store, run_id)
    assert summary.loc[summary["cluster"] == 0, "active"].item() == 1


def test_applying_a_run_twice_is_refused_and_keeps_its_undo_link(make_store) -> None:
    store = make_store(CHAIN)
    run_id = runs.run_dedup(store, runs.DedupConfig(threshold=0.5), author="t").run_id
    first = runs.apply_run(store, run_id, author="t", accept_all=True)
    with pytest.raises(runs.AlreadyApplied, match=f"already applied as action {first.action_id}"):
        runs.apply_run(store, run_id, author="t", accept_all=True)
    assert dedup_store.get_run(store, run_id)["applied_action"] == first.action_id  # old code: set to NULL
    runs.undo_run(store, first.action_id, author="t")
    again = runs.apply_run(store, run_id, author="t")  # after an undo it may be applied again
    assert runs.is_applied(dedup_store.get_run(store, run_id)) and again.action_id != first.action_id


def test_undo_after_a_later_review_is_refused_with_the_rows_unless_forced(make_store) -> None:
    store = make_store(CHAIN)
    run_id = runs.run_dedup(store, runs.DedupConfig(threshold=0.5), author="t").run_id
    applied = runs.apply_run(store, run_id, author="t", accept_all=True)
    review = revisions.set_status(store, "rejected", ids=[2], reason="bad answer", author="u")
    with pytest.raises(runs.ChangedSinceApply, match="1 rows marked by action") as err:
        runs.undo_run(store, applied.action_id, author="t")
    changed = err.value.changed
    assert changed[["example_id", "field", "current", "changed_by"]].values.tolist() == [
        [2, "status", "rejected", review.action_id],
        [2, "status_reason", "bad answer", review.action_id],
    ]
    assert store.query_value("SELECT status FROM examples WHERE id = 2") == "rejected"  # nothing was touched
    runs.undo_run(store, applied.action_id, author="t", force=True)
    assert store.query_value("SELECT status FROM examples WHERE id = 2") == "pending"


def test_undo_of_a_run_overlapped_by_a_later_run_says_so(make_store) -> None:
    store = make_store(CHAIN)
    first = runs.run_dedup(store, runs.DedupConfig(threshold=0.5), author="t").run_id
    second = runs.run_dedup(store, runs.DedupConfig(threshold=0.6), author="t").run_id
    a1 = runs.apply_run(store, first, author="t", accept_all=True)
    a2 = runs.apply_run(store, second, author="t", accept_all=True)  # same row, its own reason
    with pytest.raises(runs.ChangedSinceApply) as err:
        runs.undo_run(store, a1.action_id, author="t")
    changed = err.value.changed[["example_id", "field", "changed_by"]].values.tolist()
    assert changed == [[2, "status_reason", a2.action_id]]
    runs.undo_run(store, a2.action_id, author="t")  # undo the later one first: then the first undoes cleanly
    runs.undo_run(store, a1.action_id, author="t")
    assert marked(store) == {}


def _invoke(db: Path, *args: object):
    return CliRunner().invoke(app, ["--db", str(db), *map(str, args)])


def test_cli_pairs_out_lists_dropped_rows_greedy_defaults_to_gt_and_undo_needs_force(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    data = tmp_path / "rows.json"
    rows = [*CHAIN, {"instruction": "one two three four five six seven eight nine ten", "output": "a"}]
    rows.append({"instruction": "one two three four five six seven x y z", "output": "b"})  # exactly 0.7
    data.write_text(json.dumps(rows))
    assert _invoke(db, "import", data, "--format", "alpaca").exit_code == 0
    out = tmp_path / "pairs.jsonl"
    result = _invoke(db, "dedup", "rouge", "--threshold", "0.5", "--pairs-out", out, "--apply")
    assert result.exit_code == 0, result.output
    dropped = [r for r in map(json.loads, out.read_text().splitlines()) if "dropped" in r]
    assert [{k: d[k] for k in ("dropped", "dropped_row", "kept", "kept_row")} for d in dropped] == [
        {"dropped": 2, "dropped_row": 1, "kept": 1, "kept_row": 0},
        {"dropped": 6, "dropped_row": 5, "kept": 5, "kept_row": 4},
    ]
    for d in dropped:
        assert d["score"] == rouge(rows[d["kept_row"]]["instruction"], rows[d["dropped_row"]]["instruction"])
    assert _invoke(db, "dedup", "apply", "1").output.startswith("error: dedup run 1 is already applied")
    greedy = _invoke(db, "dedup", "rouge", "--threshold", "0.7", "--mode", "greedy")
    assert "ROUGE-L > 0.7" in greedy.output and "0 duplicates" in greedy.output  # the exact 0.7 tie survives
    action = result.output.split("as action ")[1].split()[0]
    store = Store(db)
    review = revisions.set_status(store, "approved", ids=[2], author="u").action_id
    store.close()
    refused = _invoke(db, "dedup", "undo", action)
    assert refused.exit_code == 1 and f"#2 status is now 'approved' by action {review} (review)" in refused.output
    assert _invoke(db, "dedup", "undo", action, "--force").exit_code == 0


def test_pair_records_are_sorted_and_json(make_store) -> None:
    store = make_store(CHAIN)
    outcome = runs.run_dedup(store, runs.DedupConfig(threshold=0.5, mode="greedy"), author="t")
    lines = runs.pair_records(outcome)
    assert [line["kind"] for line in lines] == ["pair", "pair", "dropped"]
    assert json.loads(json.dumps(lines)) == lines and not pd.isna(lines[-1]["score"])


def test_embedding_threshold_1_finds_every_exact_duplicate(make_store) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(20, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # float32 rounding: |v|^2 is 1 +- a few ulp
    vectors[:10] *= np.float32(1 - 4e-6)  # model output a hair off unit length (normalize() leaves it as is)
    doubled = np.concatenate([vectors, vectors])
    found = embeddings.cosine_pairs(doubled, 1.0, "ge")
    assert sorted(zip(found["a"], found["b"], strict=True)) == [(i, i + 20) for i in range(20)]
    assert (found["score"] == 1.0).all()
    texts = [f"text number {i}" for i in range(20)]
    store = make_store([{"instruction": t} for t in texts + texts])
    table = dict(zip(texts, vectors, strict=True))
    cfg = runs.DedupConfig(method="embedding", threshold=1.0)
    outcome = runs.run_dedup(store, cfg, embed=lambda batch: np.stack([table[t] for t in batch]), author="t")
    assert outcome.summary()["duplicates"] == 20
    with pytest.raises(ValueError, match="no score is > 1"):
        runs.DedupConfig(method="embedding", threshold=1.0, rule="gt")


def test_a_redone_dedup_counts_as_applied_and_cannot_be_applied_again(make_store) -> None:
    from curation.dedup import runs as dedup_runs
    from curation.store import dedup as dedup_store
    from curation.store import revisions

    store = make_store([{"instruction": "Give three tips for staying healthy."}] * 2 + [{"instruction": "Other."}])
    cfg = dedup_runs.DedupConfig(method="rouge", threshold=0.7)
    run_id = dedup_runs.run_dedup(store, cfg, author="t").run_id
    applied = dedup_runs.apply_run(store, run_id, author="t", accept_all=True)
    undo = revisions.undo_action(store, applied.action_id, author="t")
    assert not dedup_runs.is_applied(dedup_store.get_run(store, run_id))
    revisions.redo_action(store, applied.action_id, author="t")
    assert dedup_runs.is_applied(dedup_store.get_run(store, run_id))
    assert dedup_store.list_runs(store)["undone_by"].isna().all()
    with pytest.raises(dedup_runs.AlreadyApplied):
        dedup_runs.apply_run(store, run_id, author="t", accept_all=True)
    assert undo.action_id is not None
