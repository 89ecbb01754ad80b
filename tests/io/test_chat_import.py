"""Chat layouts as published (LLaMA-Factory's glaive_toolcall-style rows, a FastChat ShareGPT array, an OpenAI
tool-call row) import without conversion; a broken conversation is refused naming line, row and turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.io import importers
from curation.io.importers import InvalidInputError
from curation.store import Store, examples

FIXTURES = Path(__file__).parent / "fixtures" / "chat"


def stored(store: Store) -> list[dict]:
    return [examples.get(store, i) for i in examples.fetch(store, columns=("id",))["id"]]


def test_llamafactory_toolcall_rows_import_with_tools_and_system(store: Store) -> None:
    result = importers.import_file(store, FIXTURES / "glaive_toolcall.json")  # .json: guessed alpaca, read as chat
    assert result.rows == 2
    first, second = stored(store)
    assert first["messages"] == [
        {"role": "user", "content": "Hi, I was born on 1990-05-15. How old am I today?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"type": "function", "function": {"name": "calculate_age", "arguments": '{"birthdate": "1990-05-15"}'}}
            ],
        },
        {"role": "tool", "content": '{"age": 31}'},
        {"role": "assistant", "content": "You are 31 years old."},
    ]
    assert first["tools"][0]["name"] == "calculate_age"
    assert first["tools"][0]["parameters"]["required"] == ["birthdate"]
    assert (first["instruction"], first["output"]) == ("Hi, I was born on 1990-05-15. How old am I today?", "")
    assert second["messages"][0] == {"role": "system", "content": "You are a cheerful assistant."}
    assert second["tools"] is None  # "[]" is no tools
    assert second["output"].startswith("Why did the scarecrow")


def test_fastchat_sharegpt_array_imports_every_turn_and_keeps_the_id(store: Store) -> None:
    importers.import_file(store, FIXTURES / "fastchat_sharegpt.json", "messages")
    first, second = stored(store)
    assert [t["role"] for t in first["messages"]] == ["user", "assistant"] * 3
    assert first["messages"][5]["content"] == "You're welcome — 不客气! 😀"
    assert first["meta"] == {"id": "identity_0"}
    assert second["messages"][0] == {"role": "system", "content": "Answer in one word."}
    assert (second["instruction"], second["output"]) == ("Capital of France?", "Paris.")


def test_openai_tool_calls_typed_parts_and_unknown_fields(store: Store) -> None:
    importers.import_file(store, FIXTURES / "openai_tool_calls.jsonl", "messages")
    (row,) = stored(store)
    turns = row["messages"]
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert turns[2]["reasoning_content"] == "Two cities, so two calls."
    assert turns[2]["content"] == ""
    assert [c["id"] for c in turns[2]["tool_calls"]] == ["call_1", "call_2"]
    assert json.loads(turns[2]["tool_calls"][1]["function"]["arguments"]) == {"city": "Oslo", "units": {"temp": "C"}}
    assert turns[4] == {"role": "tool", "tool_call_id": "call_2", "content": "4 C, rain"}
    assert turns[5] == {"role": "assistant", "content": "Paris: 18 C and sunny. Oslo: 4 C with rain."}
    assert row["tools"][0]["function"]["name"] == "get_weather"
    assert row["meta"]["source"] == "hand-written"
    assert row["meta"]["quality"] == {"score": 5}


def test_a_jsonl_file_of_sharegpt_rows_is_read_as_chat(store: Store) -> None:
    line = {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}], "lang": "en"}
    importers.import_bytes(store, (json.dumps(line) + "\n").encode(), "c.jsonl", "jsonl")
    (row,) = stored(store)
    assert row["messages"] == [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    assert row["meta"] == {"lang": "en"}


def user(text: str = "Q") -> dict:
    return {"role": "user", "content": text}


def reply(text: str = "A") -> dict:
    return {"role": "assistant", "content": text}


def calls(*ids: str | None, arguments: str = "{}") -> dict:
    items = [
        {**({"id": i} if i else {}), "type": "function", "function": {"name": "f", "arguments": arguments}} for i in ids
    ]
    return {"role": "assistant", "content": "", "tool_calls": items}


def tool(call_id: str | None = None, text: str = "r") -> dict:
    return {"role": "tool", "content": text, **({"tool_call_id": call_id} if call_id else {})}


BAD_CHATS = [
    ("two user turns", [user(), user(), reply()], "messages[1] is a user turn after a user turn"),
    ("reply first", [reply(), user()], "messages[0] is an assistant turn after the start"),
    ("system later", [user(), {"role": "system", "content": "s"}, reply()], "messages[1] is a system turn"),
    ("tool without call", [user(), tool(), reply()], "messages[1] is a tool result without its call"),
    ("tool after plain reply", [user(), reply(), tool()], "messages[2] is a tool result without its call"),
    ("more results than calls", [user(), calls(None), tool(), tool(), reply()], "messages[3] is a tool result"),
    ("unknown call id", [user(), calls("c1"), tool("c9"), reply()], "messages[2] answers tool call 'c9'"),
    ("arguments not JSON", [user(), calls("c1", arguments="{city: Paris}"), tool("c1"), reply()],
     "messages[1] tool_calls[0] arguments are not valid JSON"),
    ("ends with calls", [user(), calls("c1")], "ends with tool calls"),
    ("ends with a result", [user(), calls("c1"), tool("c1")], "ends with a tool result"),
    ("user right after calls", [user(), calls("c1"), user()], "messages[2] is a user turn"),
    ("image part", [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}, reply()],
     "messages[0] content[0] must be a text or reasoning part"),
]  # fmt: skip


@pytest.mark.parametrize(("turns", "message"), [c[1:] for c in BAD_CHATS], ids=[c[0] for c in BAD_CHATS])
def test_a_broken_conversation_is_refused_with_line_row_and_turn(store: Store, turns: list, message: str) -> None:
    good = {"messages": [user(), reply()]}
    data = (json.dumps(good) + "\n" + json.dumps({"messages": turns}) + "\n").encode()
    with pytest.raises(InvalidInputError) as err:
        importers.import_bytes(store, data, "c.jsonl", "messages")
    assert str(err.value).startswith("c.jsonl line 2 (row 1): ")
    assert message in str(err.value)
    assert examples.count(store) == 0  # nothing imported, not even the good row


SHAREGPT_BAD = [
    ("function_call not JSON", [{"from": "human", "value": "Q"}, {"from": "function_call", "value": "f(x)"},
                                {"from": "observation", "value": "r"}, {"from": "gpt", "value": "A"}],
     {}, "messages[1] function_call value is not valid JSON"),
    ("observation first", [{"from": "human", "value": "Q"}, {"from": "observation", "value": "r"},
                           {"from": "gpt", "value": "A"}], {}, "messages[1] is a tool result without its call"),
    ("tools not JSON", [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}], {"tools": "[{name"},
     "field 'tools' is not valid JSON"),
    ("call without name", [{"from": "human", "value": "Q"}, {"from": "function_call", "value": '{"arguments": {}}'},
                           {"from": "observation", "value": "r"}, {"from": "gpt", "value": "A"}],
     {}, "messages[1] call 0 needs a function name"),
]  # fmt: skip


@pytest.mark.parametrize(("turns", "extra", "message"), [c[1:] for c in SHAREGPT_BAD], ids=[c[0] for c in SHAREGPT_BAD])
def test_a_broken_sharegpt_row_is_refused(store: Store, turns: list, extra: dict, message: str) -> None:
    data = json.dumps([{"conversations": turns, **extra}], indent=1).encode()
    with pytest.raises(InvalidInputError) as err:
        importers.import_bytes(store, data, "s.json", "messages")
    assert str(err.value).startswith("s.json line 2 (row 0): ")
    assert message in str(err.value)
    assert examples.count(store) == 0
