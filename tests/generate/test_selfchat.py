"""Self-chat: seeds grow into N-exchange conversations through a backend (the fake one), with the early stops
named, and land as pending rows with provenance, readable in every chat export."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from curation.cli import app
from curation.filters import ExampleFilter
from curation.generate import selfchat
from curation.generate.llm import FakeLLM
from curation.io import chat, export
from curation.store import Store, examples


def test_converse_alternates_roles_for_n_exchanges_and_shows_the_transcript() -> None:
    llm = FakeLLM(responses=["A1", "Q2", "A2", "Q3", "A3"])
    convs, stops = selfchat.converse(llm, ["Q1"], selfchat.SelfChatConfig(turns=3, system="Be kind."), concurrency=1)
    assert convs == [
        [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2"},
            {"role": "user", "content": "Q3"},
            {"role": "assistant", "content": "A3"},
        ]
    ]
    assert stops == {"empty_answer": 0, "empty_question": 0, "repeated_question": 0}
    assert llm.prompts[1].endswith("System: Be kind.\nUser: Q1\nAssistant: A1\nUser:")  # the user simulator
    assert llm.prompts[2].endswith("User: Q2\nAssistant:")  # the assistant sees the whole conversation


def test_a_conversation_stops_early_and_keeps_its_exchanges() -> None:
    # three seeds, concurrency 1: answers in seed order at each step
    llm = FakeLLM(responses=["A1", "", "B1", "Q1", "  ", "A2"])
    convs, stops = selfchat.converse(llm, ["S1", "S2", "S3"], selfchat.SelfChatConfig(turns=2), concurrency=1)
    assert [[t["content"] for t in c] for c in convs] == [["S1", "A1", "Q1", "A2"], [], ["S3", "B1"]]
    assert stops == {"empty_answer": 1, "empty_question": 1, "repeated_question": 0}
    llm = FakeLLM(responses=["A1", "S1"])
    convs, stops = selfchat.converse(llm, ["S1"], selfchat.SelfChatConfig(turns=2), concurrency=1)
    assert (convs, stops["repeated_question"]) == (
        [[{"role": "user", "content": "S1"}, {"role": "assistant", "content": "A1"}]],
        1,
    )


@pytest.mark.parametrize("bad", [{"turns": 0}, {"turns": 21}, {"user_prompt": "no placeholder"}])
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match=r"turns must be between 1 and 20|must contain"):
        selfchat.SelfChatConfig(**bad)


def test_cli_self_chat_adds_pending_conversations_that_export(tmp_path) -> None:
    seeds = tmp_path / "seeds.json"
    seeds.write_text(
        json.dumps([{"instruction": "Explain tides.", "output": ""}, {"instruction": "Name a bird.", "output": ""}])
    )
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", str(db), "import", str(seeds), "--allow-missing-output"]).exit_code == 0
    result = runner.invoke(
        app, ["--db", str(db), "self-chat", "--turns", "3", "--source", "seeds", "--concurrency", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "added 2 pending conversations" in result.output
    store = Store(db)
    rows = [examples.get(store, i) for i in (3, 4)]
    for row, seed in zip(rows, ("Explain tides.", "Name a bird."), strict=True):
        assert [t["role"] for t in row["messages"]] == ["user", "assistant"] * 3
        assert row["messages"][0]["content"] == seed == row["instruction"]
        assert row["output"] == row["messages"][1]["content"] != ""
        assert (row["status"], row["origin"], row["provenance"]["method"]) == ("pending", "generated", "self-chat")
        chat.check_order(row["messages"])
    data, _ = export.build(store, ExampleFilter(sources=["self-chat-job-1"]), "sharegpt")
    assert [len(r["conversations"]) for r in json.loads(data)] == [6, 6]
    store.close()
