"""Judge ratings as an operation: the same `judge` signal as `rate run`, decisions reject below a threshold."""

from __future__ import annotations

import pytest

from curation.filters import ExampleFilter
from curation.generate.llm import FakeLLM
from curation.jobs import JobRunner
from curation.operations import base, run
from curation.operations.judge import RatingConfig, rating_job
from curation.store import actions, examples, ratings

ROWS = [{"instruction": f"Question {i}?", "output": f"Answer number {i} " * (i % 4 + 1)} for i in range(12)]


def test_judge_operation_writes_what_the_rating_job_writes_and_rejects_below(make_store) -> None:
    by_job, by_op = make_store(ROWS), make_store(ROWS)
    JobRunner(by_job).run("rating", rating_job(FakeLLM(seed=0), RatingConfig(rubric="acc"), ExampleFilter()))
    result = run.score_filtered(by_op, "judge", {"rubric": "acc", "backend": "fake", "threshold": 3.0})
    assert result["variant"] == "acc" and result["scored"] == len(ROWS)
    expected = ratings.ratings(by_job, "acc")[["example_id", "score", "reason"]]
    got = ratings.ratings(by_op, "acc")[["example_id", "score", "reason"]]
    assert got.to_dict("records") == expected.to_dict("records")
    below = ratings.ids_below(by_op, "acc", 3.0)
    assert 0 < len(below) < len(ROWS)
    found, action = run.apply_decisions(by_op, "judge", {"rubric": "acc", "threshold": 3.0}, author="cur")
    rejected = examples.fetch(by_op, ExampleFilter(statuses=["rejected"]), ("id", "status_reason"))
    assert rejected["id"].tolist() == below and set(rejected["status_reason"]) == {"rating below 3 (acc)"}
    assert found.counts() == {"rejected": len(below)}
    actions.undo_action(by_op, action.action_id, author="cur")
    assert examples.count(by_op, ExampleFilter(statuses=["rejected"])) == 0


def test_judge_parameters_are_checked() -> None:
    judge = base.get("judge")
    with pytest.raises(ValueError, match=r"threshold must be in \[1, 5\]; got 9"):
        judge.params({"threshold": 9})
    with pytest.raises(ValueError, match="rubric prompt must contain"):
        judge.params({"prompt": "no placeholders"})
