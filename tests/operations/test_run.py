"""The shared operation machinery: version-aware scoring job on a handed-in executor, signal filter clauses, and
decisions applied as one undoable action."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from operation_support import ROWS, SizeOperation

from curation.filters import ExampleFilter
from curation.jobs import JobCancelled, JobRunner
from curation.operations import run
from curation.store import actions, examples, jobs_table, revisions, signals


def _stored(store) -> dict[int, tuple[float, str, int]]:
    frame = signals.results(store, "test-size", "chars")
    columns = (frame[c] for c in ("example_id", "score", "label", "example_version"))
    return {int(i): (s, lab, int(v)) for i, s, lab, v in zip(*columns, strict=True)}


def test_scoring_is_version_aware_and_resumable(make_store) -> None:
    store = make_store(ROWS)
    first = run.score_filtered(store, "test-size")
    assert (first["scored"], first["to_score"], first["variant"]) == (4, 4, "chars")
    assert _stored(store) == {1: (0.04, "short", 1), 2: (0.25, "long", 1), 3: (0.24, "long", 1), 4: (0.02, "short", 1)}
    assert run.score_filtered(store, "test-size")["scored"] == 0  # nothing new or edited
    revisions.update_example(store, 4, {"output": "now a long output"}, expected_version=1, author="a")
    again = run.score_filtered(store, "test-size")
    assert again["scored"] == 1 and _stored(store)[4] == (0.17, "long", 2)
    assert run.score_filtered(store, "test-size", rescore=True, flt=ExampleFilter(ids=[1, 2]))["scored"] == 2
    got = signals.get_run(store, again["run_id"])
    assert got["counts"] == {"scored": 1, "to_score": 1, "cancelled": False} and got["name"] == "test-size"


def test_a_cancelled_run_keeps_its_chunks_and_a_rerun_scores_the_rest(make_store) -> None:
    store = make_store(ROWS)

    def stop(done: int, total: int) -> None:
        raise JobCancelled("stop")

    partial = run.score_filtered(store, "test-size", chunk=3, progress=stop)
    assert partial["cancelled"] and partial["scored"] == 3 and sorted(_stored(store)) == [1, 2, 3]
    rest = run.score_filtered(store, "test-size", chunk=3)
    assert rest["to_score"] == 1 and sorted(_stored(store)) == [1, 2, 3, 4]


def test_a_handed_in_executor_gives_the_same_signals_and_a_job_reports_progress(make_store, monkeypatch) -> None:
    inline, pooled = make_store(ROWS), make_store(ROWS)
    run.score_filtered(inline, "test-size")
    monkeypatch.setattr(run, "BATCH", 1)  # one task per row on the pool
    seen: list[float] = []
    with ThreadPoolExecutor(2) as pool:
        job = run.scoring_job("test-size", {"max_chars": 10}, executor=pool)
        result = JobRunner(pooled).run(
            run.JOB_KIND, job, run.job_params("test-size", {}, None, False), lambda f, m: seen.append(f)
        )
    assert _stored(pooled) == _stored(inline) and result["scored"] == 4 and seen[-1] == 1.0
    assert jobs_table.list_jobs(pooled)["status"].tolist() == ["succeeded"]
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['nope'\]"):
        run.scoring_job("test-size", {"nope": 1})


def test_score_must_return_one_signal_per_row_in_order(make_store) -> None:
    class _Broken(SizeOperation):
        name = "test-broken"

        def score(self, rows, params):
            return list(reversed(super().score(rows, params)))

    store = make_store(ROWS)
    with pytest.raises(ValueError, match="one Signal per row, in order"):
        run.score_filtered(store, _Broken())


@pytest.mark.parametrize(
    ("clause", "ids"),
    [
        ({"name": "test-size", "min": 0.2}, [2, 3]),
        ({"name": "test-size", "variant": "chars", "max": 0.04}, [1, 4]),
        ({"name": "test-size", "labels": ["short"]}, [1, 4]),
        ({"name": "test-size", "variant": "words"}, []),
        ({"name": "test-size", "min": 0.03, "labels": ["short"]}, [1]),
    ],
)
def test_signal_clauses_filter_rows(make_store, clause: dict, ids: list[int]) -> None:
    store = make_store(ROWS)
    run.score_filtered(store, "test-size")
    flt = ExampleFilter(signals=[clause])
    assert examples.page(store, flt)["id"].tolist() == ids
    assert ExampleFilter.from_dict(flt.to_dict()) == flt
    assert "signal: test-size" in flt.describe()


def test_bad_signal_clauses_are_refused() -> None:
    with pytest.raises(ValueError, match="min must be <= max"):
        ExampleFilter(signals=[{"name": "q", "min": 0.9, "max": 0.1}])
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['low'\]"):
        ExampleFilter(signals=[{"name": "q", "low": 0.9}])


def test_apply_is_one_undoable_action_with_reasons_tags_and_edits(make_store) -> None:
    store = make_store(ROWS)
    run.score_filtered(store, "test-size")
    preview = run.plan(store, "test-size", {"redact": True})
    assert preview.counts() == {"rejected": 1, "+tag:long": 1, "edit:output": 1}
    found, result = run.apply_decisions(store, "test-size", {"redact": True}, author="cur")
    assert result.rows == 2 and found.counts() == preview.counts()
    row2, row3 = (examples.get(store, i) for i in (2, 3))
    assert (row2["status"], row2["status_reason"]) == ("rejected", "over 10 chars")
    assert row3["output"] == "my [REDACTED] is long enough" and row3["status"] == "pending"
    assert examples.page(store, ExampleFilter(tags=["long"]))["id"].tolist() == [2]
    action = actions.get_action(store, result.action_id)
    assert action["kind"] == "operation" and actions.action_params(action)["run_ids"] == [1]
    # a status/tag change keeps row 2's signal current; the edited row 3 is scored again
    assert signals.count_pending(store, "test-size", "chars") == 1
    assert run.plan(store, "test-size", {"redact": True}).changes.empty  # applying again changes nothing
    actions.undo_action(store, result.action_id, author="cur")
    row2, row3 = (examples.get(store, i) for i in (2, 3))
    assert (row2["status"], row2["status_reason"], row3["output"]) == ("pending", None, "my secret is long enough")
    assert examples.page(store, ExampleFilter(tags=["long"])).empty
    actions.redo_action(store, result.action_id, author="cur")
    assert examples.get(store, 2)["status"] == "rejected" and examples.get(store, 3)["output"].startswith("my [RED")


def test_rows_edited_since_scoring_are_left_out_of_decisions(make_store) -> None:
    store = make_store(ROWS)
    run.score_filtered(store, "test-size")
    revisions.update_example(store, 2, {"instruction": "b2"}, expected_version=1, author="a")
    found = run.plan(store, "test-size")
    assert found.stale == 1 and set(found.changes["example_id"]) == {3}  # row 2 is left out until rescored


def test_a_mixture_config_filters_by_signal(make_store, tmp_path) -> None:
    from curation.mixture import plan as mixture
    from curation.mixture.plan import MixConfig

    store = make_store([{**r, "status": "approved"} for r in ROWS])
    run.score_filtered(store, "test-size")
    path = tmp_path / "mix.yaml"
    path.write_text(
        "name: short\ngroup_by: source\nfilter:\n  signals:\n    - {name: test-size, labels: [short]}\n",
        encoding="utf-8",
    )
    config = MixConfig.from_yaml(path)
    assert config.example_filter().signals == [{"name": "test-size", "labels": ["short"]}]
    assert int(mixture.preview(store, config).groups["before"].sum()) == 2  # rows 1 and 4
    with pytest.raises(ValueError, match="min must be <= max"):
        MixConfig(filter={"signals": [{"name": "q", "min": 1, "max": 0}]})


def test_a_process_pool_scores_like_this_process(make_store) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    inline, pooled = make_store(ROWS), make_store(ROWS)
    run.score_filtered(inline, "test-size")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        run.score_filtered(pooled, "test-size", executor=pool)
    assert _stored(pooled) == _stored(inline)


_CLAUSES = st.fixed_dictionaries(
    {"name": st.sampled_from(["quality", "language", "judge"])},
    optional={
        "variant": st.sampled_from(["", "accuracy", "mmlu"]),
        "min": st.floats(-1, 0.5, allow_nan=False),
        "max": st.floats(0.5, 5, allow_nan=False),
        "labels": st.lists(st.sampled_from(["en", "de", "long"]), max_size=2),
    },
)


@given(st.lists(_CLAUSES, max_size=3))
@settings(max_examples=60, deadline=None)
def test_signal_clauses_round_trip_through_filter_dicts(clauses: list[dict]) -> None:
    flt = ExampleFilter(signals=clauses)
    again = ExampleFilter.from_dict(json.loads(json.dumps(flt.to_dict())))
    assert again == flt and again.signal_clauses() == flt.signal_clauses()
