"""Dedup runs against a store: keep rule, review edits, apply as one action, undo restores exactly."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from curation.dedup import contamination, embeddings, runs
from curation.dedup.clusters import KeepRule, cluster_labels, greedy_order
from curation.jobs import JobCancelled, JobRunner
from curation.store import dedup as dedup_store
from curation.store import examples, revisions

ROWS = [
    {"instruction": "Write a poem about the sea.", "output": "short", "origin": "generated"},  # 1
    {"instruction": "Write a poem about the sea!", "output": "a much longer output", "origin": "generated"},  # 2
    {"instruction": "write a POEM about the sea", "output": "mid output", "origin": "imported"},  # 3
    {"instruction": "Give three tips for staying healthy.", "output": "x", "origin": "imported"},  # 4
    {"instruction": "Give three tips for staying healthy", "output": "x", "origin": "seed"},  # 5
    {"instruction": "Explain why the sky is blue.", "output": "y", "origin": "generated", "status": "approved"},  # 6
    {"instruction": "Explain why the sky is blue", "output": "a longer answer", "origin": "templated"},  # 7
    {"instruction": "Name the capital of France.", "output": "Paris", "origin": "generated"},  # 8
    {"instruction": "Translate hello into German.", "output": "Hallo", "origin": "generated", "status": "rejected"},
]


def statuses(store) -> dict[int, tuple[str, str | None, int]]:
    rows = store.query_rows("SELECT id, status, status_reason, version FROM examples ORDER BY id")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_keep_rule_prefers_approved_then_origin_then_longer_output_then_oldest() -> None:
    rows = pd.DataFrame(
        {
            "id": [10, 11, 12, 13, 14],
            "status": ["pending", "pending", "approved", "pending", "pending"],
            "origin": ["imported", "seed", "generated", "seed", "seed"],
            "output": ["long long", "ab", "", "abcd", "abcd"],
        }
    )
    assert list(KeepRule().rank(rows)) == [4, 3, 0, 1, 2]
    no_length = KeepRule(longer_output=False, origins=("imported", "generated", "templated", "seed"))
    assert list(no_length.rank(rows)) == [1, 2, 0, 3, 4]
    with pytest.raises(ValueError, match="keep rule"):
        KeepRule(statuses=("kept",))


def test_cluster_labels_are_connected_components_numbered_by_first_row() -> None:
    labels = cluster_labels(8, np.array([5, 0, 1, 6]), np.array([7, 1, 2, 7]))
    assert list(labels) == [0, 0, 0, -1, -1, 1, 1, 1]


def test_pairs_run_clusters_and_keep_rule_are_deterministic(make_store) -> None:
    store = make_store(ROWS)
    cfg = runs.DedupConfig(threshold=0.8)
    first = runs.run_dedup(store, cfg, author="t")
    second = runs.run_dedup(store, cfg, author="t")
    for outcome in (first, second):
        summary = dedup_store.cluster_summary(store, outcome.run_id)
        assert summary[["size", "kept_id"]].values.tolist() == [[3, 2], [2, 5], [2, 6]]
        assert outcome.summary()["duplicates"] == 4
    assert first.members.equals(second.members)
    assert 9 not in set(first.rows["id"])  # rejected rows are not compared by default


def test_apply_marks_duplicates_with_reason_and_undo_restores_exactly(make_store) -> None:
    store = make_store(ROWS)
    before = statuses(store)
    outcome = runs.run_dedup(store, runs.DedupConfig(threshold=0.8), author="t")
    assert statuses(store) == before  # a run alone changes nothing
    with pytest.raises(ValueError, match="no accepted duplicates"):
        runs.apply_run(store, outcome.run_id, author="t")
    result = runs.apply_run(store, outcome.run_id, author="t", accept_all=True)
    after = statuses(store)
    assert {i for i, (s, _, _) in after.items() if s == "duplicate"} == {1, 3, 4, 7}
    reason = f"dedup run {outcome.run_id}: duplicate of #2, score 1 (ROUGE-L >= 0.8 on instruction, pairs)"
    assert after[1][1] == reason
    assert after[6][0] == "approved" and result.rows == 4
    assert dedup_store.get_run(store, outcome.run_id)["applied_action"] == result.action_id
    runs.undo_run(store, result.action_id, author="t")
    restored = statuses(store)
    assert {i: v[:2] for i, v in restored.items()} == {i: v[:2] for i, v in before.items()}
    assert revisions.list_actions(store, ["dedup"])["undone_by"].notna().all()


def test_review_change_kept_split_and_accept_one_cluster(make_store) -> None:
    store = make_store(ROWS)
    run_id = runs.run_dedup(store, runs.DedupConfig(threshold=0.8), author="t").run_id
    poem = int(dedup_store.cluster_summary(store, run_id).iloc[0]["cluster"])
    dedup_store.set_kept(store, run_id, poem, 3)  # accepts the cluster too
    runs.split_off(store, run_id, poem, 1)  # a false positive stays as it is
    members = dedup_store.cluster_members(store, run_id, poem)
    assert members[["id", "keep", "split"]].values.tolist() == [[3, True, False], [2, False, False], [1, False, True]]
    result = runs.apply_run(store, run_id, author="t")  # only the accepted cluster
    assert result.rows == 1 and statuses(store)[2][0] == "duplicate" and statuses(store)[1][0] == "pending"
    runs.split_off(store, run_id, poem, 3)  # splitting the kept row lets the keep rule pick another
    assert dedup_store.cluster_members(store, run_id, poem)[["id", "keep"]].values.tolist()[0] == [2, True]
    with pytest.raises(KeyError, match="not in cluster"):
        runs.split_off(store, run_id, poem, 8)


def test_greedy_run_records_the_blocking_row(make_store) -> None:
    store = make_store(ROWS)
    store.execute("UPDATE examples SET created_at = created_at - INTERVAL (id) MINUTE")  # id 9 oldest ... 1 newest
    outcome = runs.run_dedup(store, runs.DedupConfig(threshold=0.8, mode="greedy"), author="t")
    members = dedup_store.cluster_members(store, outcome.run_id, 0)
    dropped = {int(r.id): int(r.blocked_by) for r in members.itertuples() if not r.keep}
    # seeds first (5), then oldest first: 7 before 6, 3 before 2 before 1
    assert dropped == {2: 3, 1: 3}  # cluster 0 holds the first row (id 1)
    all_dropped = dedup_store.duplicate_rows(store, outcome.run_id, accepted_only=False)
    assert dict(zip(all_dropped["example_id"], all_dropped["kept_id"], strict=True)) == {1: 3, 2: 3, 4: 5, 6: 7}
    order = greedy_order(outcome.rows, "seeds_first")
    assert outcome.rows["id"].iloc[order[0]] == 5


def test_dedup_job_runs_through_the_job_runner_with_progress(make_store) -> None:
    store = make_store(ROWS)
    seen: list[float] = []
    result = JobRunner(store).run(
        "dedup", runs.dedup_job(runs.DedupConfig(threshold=0.8), "t"), {}, on_progress=lambda f, m: seen.append(f)
    )
    assert result["pairs"] == 5 and result["clusters"] == 3 and seen[-1] == 1.0
    job = store.query_dicts("SELECT status, result FROM jobs WHERE kind = 'dedup'")[0]
    assert job["status"] == "succeeded" and json.loads(job["result"])["run_id"] == result["run_id"]


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        runs.DedupConfig(threshold=1.5)
    with pytest.raises(ValueError, match="scope must be one of"):
        runs.DedupConfig(scope="output")
    with pytest.raises(ValueError, match="rule must be"):
        runs.DedupConfig(rule="lt")


def test_contamination_flags_matches_without_storing_the_eval_set(make_store) -> None:
    store = make_store(ROWS)
    n_examples = examples.count(store)
    eval_file = json.dumps(
        [{"instruction": "Explain why the sky is blue?", "output": "z"}, {"instruction": "Unrelated words entirely"}]
    ).encode()
    cfg = contamination.ContaminationConfig(threshold=0.9)
    result = contamination.check_contamination(store, eval_file, "eval.json", "alpaca", cfg, author="t")
    assert examples.count(store) == n_examples  # the evaluation rows were not stored
    assert result["matched_rows"] == 2 and result["eval_rows"] == 2
    found = dedup_store.matches(store, result["run_id"])
    assert found[["example_id", "eval_row"]].values.tolist() == [[6, 0], [7, 0]]
    action = contamination.flag_matches(store, result["run_id"], author="t")
    tagged = examples.fetch(store, examples.ExampleFilter(tags=["contaminated"]), ("id",))
    assert list(tagged["id"]) == [6, 7]
    runs.undo_run(store, action.action_id, author="t")
    assert examples.count(store, examples.ExampleFilter(tags=["contaminated"])) == 0


def test_cancel_stops_the_job_and_records_no_run(make_store) -> None:
    store = make_store(ROWS)
    runner = JobRunner(store)
    calls: list[float] = []

    def cancel_on_first_report(fraction: float, message: str | None) -> None:
        if not calls:
            runner.cancel(1)
            time.sleep(0.3)  # the job checks the cancel flag at most every 0.25 s
        calls.append(fraction)

    job = runs.dedup_job(runs.DedupConfig(threshold=0.8), "t")
    with pytest.raises(JobCancelled):
        runner.run("dedup", job, {}, on_progress=cancel_on_first_report)
    assert store.query_value("SELECT status FROM jobs WHERE id = 1") == "cancelled"
    assert store.query_value("SELECT count(*) FROM dedup_runs") == 0


@pytest.mark.parametrize("mode", ["pairs", "greedy"])
@pytest.mark.parametrize("rows", [[], [{"instruction": "only one"}]])
def test_empty_and_single_row_runs(make_store, mode: str, rows: list) -> None:
    store = make_store(rows)
    for method in ("rouge", "embedding"):
        cfg = runs.DedupConfig(method=method, mode=mode)
        outcome = runs.run_dedup(store, cfg, embed=lambda texts: np.ones((len(texts), 4), np.float32) / 2, author="t")
        assert outcome.summary() | {"run_id": None} == {
            "run_id": None,
            "rows": len(rows),
            "pairs": 0,
            "clusters": 0,
            "duplicates": 0,
            "embedded": len(rows) if method == "embedding" else 0,
        }


@pytest.mark.parametrize(("field", "value"), [("embedding_backend", "tpu"), ("embedding_search", "fast")])
def test_embedding_runtime_and_search_choices_are_checked(field: str, value: str) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        runs.DedupConfig(method="embedding", **{field: value})


def test_the_chosen_search_reaches_the_cosine_search(make_store, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    exact = embeddings.cosine_pairs

    def recording(*args, search=None, **kwargs):
        seen.append(search)
        return exact(*args, search="exact", **kwargs)

    monkeypatch.setattr(embeddings, "cosine_pairs", recording)
    store = make_store([{"instruction": "a"}, {"instruction": "b"}])
    fake = lambda texts: embeddings.normalize(np.ones((len(texts), 4), np.float32))  # noqa: E731
    outcome = runs.run_dedup(store, runs.DedupConfig(method="embedding", embedding_search="index"), embed=fake)
    assert seen == ["index"] and len(outcome.pairs) == 1
