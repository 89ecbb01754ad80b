"""LLM-judge ratings (parse, job end to end with the fake backend, filter, reject-below as one undoable action)
and Evol-Instruct rewrites landing as pending rows linked to their parent."""

from __future__ import annotations

import json

import pytest

from curation.filters import ExampleFilter
from curation.generate.concurrent_requests import CompletionRequest, complete_all
from curation.generate.evol import EvolConfig, evol_job
from curation.generate.fake_server import FakeOpenAIServer
from curation.generate.llm import Completion, FakeLLM
from curation.generate.openai_backend import OpenAIBackend
from curation.jobs import JobRunner
from curation.operations.judge import RatingConfig, parse_rating, rating_job, reject_below, render
from curation.store import examples, revisions
from curation.store import ratings as ratings_table

ROWS = [
    {"instruction": f"Explain topic number {i} to a beginner.", "output": f"Topic {i} is about {i * 7} things."}
    for i in range(12)
]


@pytest.mark.parametrize(
    ("text", "score", "reason"),
    [
        ("Score: 4\nReason: mostly right.", 4.0, "mostly right."),
        ("score=2.5 reason: vague", 2.5, "vague"),
        ("5\nThe answer is correct.", 5.0, "5\nThe answer is correct."),
        ("Score: 9\nReason: great", None, "score 9 outside 1-5: Score: 9\nReason: great"),
        ("I cannot rate this.", None, "no score in the answer: I cannot rate this."),
    ],
)
def test_parse_rating(text: str, score: float | None, reason: str) -> None:
    assert parse_rating(text, RatingConfig()) == (score, reason)


def test_rubric_is_validated_and_rendered_literally() -> None:
    with pytest.raises(ValueError, match=r"must contain \{output\}"):
        RatingConfig(prompt="Rate {instruction}")
    row = {"instruction": "Use {output} here", "input": None, "output": "x"}
    assert render("I: {instruction} / In: {input} / O: {output}", row) == "I: Use {output} here / In:  / O: x"


def _rate(store, concurrency: int, llm=None, **cfg) -> dict:
    job = rating_job(llm or FakeLLM(seed=1), RatingConfig(**cfg), ExampleFilter(), concurrency=concurrency)
    return JobRunner(store).run("rating", job)


def test_rating_job_end_to_end_filter_and_undoable_reject_below(make_store) -> None:
    store = make_store(ROWS)
    result = _rate(store, 4)
    assert result == {"rated": 12, "unusable": 0, "rubric": "accuracy", "rows": 12}
    rated = ratings_table.ratings(store, "accuracy")
    expected = [
        parse_rating(FakeLLM(seed=1).complete(render(RatingConfig().prompt, r)).text, RatingConfig())[0]
        for r in examples.fetch(store).to_dict("records")
    ]
    assert rated["score"].tolist() == expected and len(set(expected)) > 1
    assert set(rated["reason"]) == {"the fake judge drew this score from the text."}
    assert ratings_table.rubrics(store)["accuracy"] == RatingConfig().prompt
    assert _rate(store, 4)["rows"] == 0  # already rated: nothing is sent again
    high = examples.fetch(store, ExampleFilter(rating_rubric="accuracy", min_rating=4))
    assert high["id"].tolist() == rated.loc[rated["score"] >= 4, "example_id"].tolist()
    with pytest.raises(ValueError, match="needs rating_rubric"):
        ExampleFilter(min_rating=3)
    low = rated.loc[rated["score"] < 3, "example_id"].tolist()
    action = reject_below(store, "accuracy", 3, author="t")
    assert action.rows == len(low) > 0
    assert examples.fetch(store, ExampleFilter(statuses=["rejected"]))["id"].tolist() == low
    revisions.undo_action(store, action.action_id, author="t")
    assert examples.count(store, ExampleFilter(statuses=["rejected"])) == 0
    assert reject_below(store, "accuracy", 1, author="t") is None


def test_rating_job_over_http_matches_in_process_and_keeps_n_in_flight(make_store) -> None:
    direct = make_store(ROWS)
    _rate(direct, 1)
    with FakeOpenAIServer(latency=0.1, seed=1) as server:
        remote = make_store(ROWS)
        _rate(remote, 6, OpenAIBackend(server.url, "judge", api_key_env="", jitter=0.0))
        assert 2 <= server.peak_in_flight <= 6
    pick = ["example_id", "score", "reason"]
    assert ratings_table.ratings(remote, "accuracy")[pick].equals(ratings_table.ratings(direct, "accuracy")[pick])


def test_evol_rewrites_land_pending_and_linked_to_their_parent(make_store) -> None:
    store = make_store(ROWS[:3])
    result = JobRunner(store).run(
        "evol", evol_job(FakeLLM(seed=2), EvolConfig(mode="broader"), ExampleFilter(), backend="fake")
    )
    assert result["rows"] == 3 and result["source"] == "evol-job-1"
    new = examples.fetch(store, ExampleFilter(sources=["evol-job-1"]))
    assert set(new["status"]) == {"pending"} and set(new["origin"]) == {"generated"}
    parents = [json.loads(p)["parent_id"] for p in new["provenance"]]
    assert parents == [1, 2, 3]
    for (_, row), parent in zip(new.iterrows(), ROWS[:3], strict=True):
        assert row["instruction"].startswith(parent["instruction"].rstrip("."))
        assert row["instruction"] != parent["instruction"] and row["output"].startswith("Here is an answer")
    with pytest.raises(ValueError, match="mode must be one of deeper, broader"):
        EvolConfig(mode="wider")


def test_complete_all_rejects_bad_concurrency_and_skips_answered() -> None:
    fake = FakeLLM(responses=["b"])
    done = {CompletionRequest("a", 5, 0.0, 1.0).key: Completion("cached")}
    out = complete_all(fake, [CompletionRequest("a", 5, 0.0, 1.0), CompletionRequest("b", 5, 0.0, 1.0)], answered=done)
    assert [c.text for c in out] == ["cached", "b"] and fake.prompts == ["b"]
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        complete_all(fake, [], concurrency=0)


def test_mixture_config_filters_by_rating(make_store) -> None:
    from curation.mixture.plan import MixConfig, preview

    store = make_store([r | {"status": "approved"} for r in ROWS])
    _rate(store, 2)
    scores = ratings_table.ratings(store, "accuracy")
    config = MixConfig(filter={"rating_rubric": "accuracy", "min_rating": 4})
    assert preview(store, config).total == int((scores["score"] >= 4).sum()) > 0
    assert preview(store, MixConfig()).total == len(ROWS)


def test_a_conversation_rubric_shows_the_judge_every_turn(store) -> None:
    from curation.io import importers
    from curation.operations import judge as ratings

    turns = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "4 C"},
        {"role": "assistant", "content": "4 C."},
        {"role": "user", "content": "Thanks!"},
        {"role": "assistant", "content": "You are welcome."},
    ]  # fmt: skip
    importers.import_bytes(store, (json.dumps({"messages": turns}) + "\n").encode(), "c.jsonl", "messages")
    llm = FakeLLM(responses=["Score: 4\nReason: fine."])
    result = _rate(store, 1, llm=llm, rubric="chat", prompt=ratings.CONVERSATION_RUBRIC)
    assert (result["rated"], ratings_table.ratings(store, "chat")["score"].tolist()) == (1, [4.0])
    shown = (
        'user: Weather in Oslo?\nassistant: \ncall: weather({"city": "Oslo"})\ntool: 4 C\nassistant: 4 C.\n'
        "user: Thanks!\nassistant: You are welcome."
    )
    assert shown in llm.prompts[0]
    assert render("{conversation}", {"instruction": "Q", "input": "", "output": "A"}) == "user: Q\nassistant: A"
