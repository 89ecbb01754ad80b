"""Browse shows a conversation turn by turn and edits it: each save one revision of `messages` with a per-turn
diff, undo / redo, add / remove / reorder turns, refusal of a broken order, and a conflict with another save."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curation.io import importers
from curation.store import Store, examples, revisions

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "1_Browse.py")
TOOL_ROW = Path(__file__).resolve().parents[1] / "io" / "fixtures" / "chat" / "openai_tool_calls.jsonl"
THREE_TURNS = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question?"},
        {"role": "assistant", "content": "First answer.", "reasoning_content": "Think once."},
        {"role": "user", "content": "Second question?"},
        {"role": "assistant", "content": "Second answer."},
        {"role": "user", "content": "Third question?"},
        {"role": "assistant", "content": "Third answer."},
    ]
}


@pytest.fixture
def chat_store() -> Store:
    AppTest.from_file(PAGE, default_timeout=60).run()  # creates the app's (empty) store
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    importers.import_bytes(store, (json.dumps(THREE_TURNS) + "\n").encode(), "three.jsonl", "messages")
    importers.import_file(store, TOOL_ROW, "messages")
    return store


def open_row(example_id: int) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["row"] = str(example_id)
    at.run()
    assert not at.exception, at.exception
    return at


def plain(shown: str) -> str:
    """An alert's text without the escapes that keep data from being read as Markdown."""
    return shown.replace("\\", "")


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_every_turn_shows_with_tool_calls_results_and_reasoning(chat_store: Store) -> None:
    at = open_row(2)
    assert len(at.chat_message) == 6
    assert [m.name for m in at.chat_message] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    shown = texts(at)
    assert "Weather in Paris and Oslo?" in shown
    assert "18 C, sunny" in shown and "4 C, rain" in shown
    assert "Two cities, so two calls." in shown  # inside the folded Reasoning expander
    codes = [c.value for c in at.code]
    assert any('"city": "Oslo"' in c for c in codes)
    assert any("get_weather" in c and "Current weather" in c for c in codes)  # the tool schema


def test_edit_a_turn_saves_one_revision_with_a_per_turn_diff_then_undo_and_redo(chat_store: Store) -> None:
    at = open_row(1)
    at.toggle(key="conv_1_editing").set_value(True).run()
    at.text_area(key="conv_1_4_content").input("Second answer, edited.").run()
    at.button(key="conv_1_save").click().run()
    assert not at.exception, at.exception
    row = examples.get(chat_store, 1)
    assert row["messages"][4] == {"role": "assistant", "content": "Second answer, edited."}
    assert row["messages"][2]["reasoning_content"] == "Think once."  # untouched turns keep every key
    history = revisions.history(chat_store, 1)
    assert list(history["field"]) == ["messages"]
    assert any(s.value.startswith("Saved the conversation of") for s in at.success)
    diffs = [c.value for c in at.code]
    assert any(d.startswith("turn 4 (assistant) changed:") and "+Second answer, edited." in d for d in diffs)
    at.button(key="conv_1_undo").click().run()
    assert examples.get(chat_store, 1)["messages"][4]["content"] == "Second answer."
    assert "Second answer." in texts(at)
    at.button(key="conv_1_redo").click().run()
    assert examples.get(chat_store, 1)["messages"][4]["content"] == "Second answer, edited."


def test_add_remove_reorder_and_the_order_rule(chat_store: Store) -> None:
    at = open_row(1)
    at.toggle(key="conv_1_editing").set_value(True).run()
    at.button(key="conv_1_6_remove").click().run()  # the last assistant turn
    at.button(key="conv_1_5_remove").click().run()  # and its question
    at.selectbox(key="conv_1_new_role").set_value("user").run()
    at.button(key="conv_1_add").click().run()
    at.text_area(key="conv_1_7_content").input("A new last question.").run()
    at.button(key="conv_1_save").click().run()
    assert [t["content"] for t in examples.get(chat_store, 1)["messages"]][-2:] == [
        "Second answer.",
        "A new last question.",
    ]
    at.toggle(key="conv_1_editing").set_value(True).run()
    at.button(key="conv_1_2_up").click().run()  # the first reply above its question: refused, nothing saved
    at.button(key="conv_1_save").click().run()
    assert any("messages[1] is an assistant turn after system" in plain(e.value) for e in at.error)
    assert examples.get(chat_store, 1)["version"] == 2


def test_a_save_meanwhile_is_a_conflict_keep_mine_or_take_theirs(chat_store: Store) -> None:
    at = open_row(1)
    at.toggle(key="conv_1_editing").set_value(True).run()
    at.text_area(key="conv_1_1_content").input("Mine.").run()
    revisions.update_example(chat_store, 1, {"task": "other"}, expected_version=1, author="someone")
    at.button(key="conv_1_save").click().run()
    assert any("Someone else saved #1" in plain(e.value) for e in at.error)
    assert examples.get(chat_store, 1)["instruction"] == "First question?"
    at.button(key="conv_1_save").click().run()  # Keep mine
    row = examples.get(chat_store, 1)
    assert (row["instruction"], row["messages"][1]["content"], row["task"]) == ("Mine.", "Mine.", "other")


def test_tool_schema_and_tool_calls_are_edited_as_json(chat_store: Store) -> None:
    at = open_row(2)
    at.toggle(key="conv_2_editing").set_value(True).run()
    calls = json.loads(at.text_area(key="conv_2_2_tool_calls").value)
    calls[0]["function"]["arguments"] = '{"city": "Lyon"}'
    at.text_area(key="conv_2_2_tool_calls").input(json.dumps(calls)).run()
    at.text_area(key="conv_2_tools").input('[{"name": "get_weather", "parameters": {}}]').run()
    at.button(key="conv_2_save").click().run()
    row = examples.get(chat_store, 2)
    assert row["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"city": "Lyon"}'
    assert row["tools"] == [{"name": "get_weather", "parameters": {}}]
    at.toggle(key="conv_2_editing").set_value(True).run()
    at.text_area(key="conv_2_2_tool_calls").input('[{"function": {"name": "f", "arguments": "{oops"}}]').run()
    at.button(key="conv_2_save").click().run()
    assert any("tool_calls[0] arguments are not valid JSON" in plain(e.value) for e in at.error)


def test_the_review_queue_shows_every_turn_of_a_conversation(chat_store: Store) -> None:
    at = AppTest.from_file(str(Path(PAGE).with_name("2_Review.py")), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [m.name for m in at.chat_message] == ["system", "user", "assistant"] * 1 + ["user", "assistant"] * 2
    assert "Third answer." in texts(at) and "Think once." in texts(at)
