"""Dedup scopes for conversations: first user turn, all user turns, the whole conversation (plain rows count as a
one-exchange chat); a run over chats finds the pairs each scope should and no others."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curation.dedup import runs
from curation.dedup.scopes import scope_texts
from curation.io import importers
from curation.store import Store


def chat(*texts: str, system: str | None = None) -> list[dict]:
    turns = [{"role": "system", "content": system}] if system else []
    return turns + [{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(texts)]


TOOL_CHAT = [
    {"role": "user", "content": "Weather in Oslo?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"c": "Oslo"}'}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "4 C"},
    {"role": "assistant", "content": "4 C in Oslo."},
]


def test_each_chat_scope_names_its_text() -> None:
    rows = pd.DataFrame(
        {
            "instruction": ["Q1", "Weather in Oslo?", "Plain question"],
            "input": ["", "", "context"],
            "output": ["A1", "", "Plain answer"],
            "messages": [json.dumps(chat("Q1", "A1", "Q2", "A2", system="Be brief.")), json.dumps(TOOL_CHAT), None],
        }
    )
    assert scope_texts(rows, "first_user") == ["Q1", "Weather in Oslo?", "Plain question\n\ncontext"]
    assert scope_texts(rows, "user_turns") == ["Q1\nQ2", "Weather in Oslo?", "Plain question\n\ncontext"]
    assert scope_texts(rows, "conversation") == [
        "system: Be brief.\nuser: Q1\nassistant: A1\nuser: Q2\nassistant: A2",
        'user: Weather in Oslo?\nassistant: \ncall: weather({"c": "Oslo"})\ntool: 4 C\nassistant: 4 C in Oslo.',
        "user: Plain question\n\ncontext\nassistant: Plain answer",
    ]


def test_a_chat_scope_without_a_messages_column_reads_the_plain_fields() -> None:
    rows = pd.DataFrame({"instruction": ["Q"], "input": [""], "output": ["A"]})
    assert scope_texts(rows, "conversation") == ["user: Q\nassistant: A"]


CHATS = [
    chat("Tell me about cats.", "Cats purr.", "And dogs?", "Dogs bark."),  # 1
    chat("Tell me about cats.", "Cats purr.", "And birds?", "Birds sing."),  # 2: same opening as 1
    chat("Hi there.", "Hello.", "And dogs?", "Dogs bark."),  # 3
    chat("Tell me about cats.", "Cats purr.", "And dogs?", "Dogs bark."),  # 4: a copy of 1
]


@pytest.mark.parametrize(
    ("scope", "pairs"),
    [("first_user", {(1, 2), (1, 4), (2, 4)}), ("user_turns", {(1, 4)}), ("conversation", {(1, 4)})],
)
def test_exact_run_over_chats_per_scope(store: Store, scope: str, pairs: set) -> None:
    data = "".join(json.dumps({"messages": c}) + "\n" for c in CHATS).encode()
    importers.import_bytes(store, data, "chats.jsonl", "messages")
    cfg = runs.DedupConfig(method="rouge", scope=scope, threshold=1.0, rule="ge")
    outcome = runs.run_dedup(store, cfg, save=False)
    ids = outcome.rows["id"].tolist()
    found = {tuple(sorted((ids[a], ids[b]))) for a, b in zip(outcome.pairs["a"], outcome.pairs["b"], strict=True)}
    assert found == pairs


def test_cli_dedup_scope_user_turns(tmp_path) -> None:
    from typer.testing import CliRunner

    from curation.cli import app

    chats = tmp_path / "chats.json"
    chats.write_text(json.dumps([{"messages": c} for c in CHATS]))
    db, out = tmp_path / "c.duckdb", tmp_path / "pairs.jsonl"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", str(db), "import", str(chats)]).exit_code == 0
    args = ["--db", str(db), "dedup", "rouge", "--threshold", "1", "--rule", "ge", "--scope", "user_turns"]
    result = runner.invoke(app, [*args, "--pairs-out", str(out)])
    assert result.exit_code == 0, result.output
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(p["a_id"], p["b_id"]) for p in pairs if p["kind"] == "pair"] == [(1, 4)]
