"""Conversations in a real browser: import a 3-turn chat and a tool-call chat on the Import page, see every turn in
Browse, edit a turn, undo; screenshots at 1366x768 for a person to look at."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app, settle

from curation.store import Store, examples

pytestmark = [pytest.mark.browser, needs_chromium]
FIXTURES = Path(__file__).resolve().parents[1] / "io" / "fixtures" / "chat"
CHATS = [
    {
        "conversations": [
            {"from": "human", "value": "Name a prime number."},
            {"from": "gpt", "value": "Seven."},
            {"from": "human", "value": "A larger one?"},
            {"from": "gpt", "value": "Thirteen."},
            {"from": "human", "value": "And an even prime?"},
            {"from": "gpt", "value": "Two is the only even prime."},
        ],
        "system": "You answer in a few words.",
    }
]


def shown(page, text: str):
    """The visible element with exactly `text` (the table's grid keeps a hidden copy of each cell)."""
    return page.get_by_text(text, exact=True).filter(visible=True).first


def top(page, text: str) -> None:
    """Scroll so that `text` is at the top of the window (the conversation is taller than a laptop screen)."""
    shown(page, text).evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)


def test_import_see_every_turn_edit_and_undo(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    shots = Path(os.environ.get("JOURNEY_ARTIFACTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    three = tmp_path / "three_turns.json"
    three.write_text(json.dumps(CHATS, ensure_ascii=False))
    db = tmp_path / "chat.duckdb"
    Store(db).close()
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), browser_page() as page:
        for upload, rows in ((three, 1), (FIXTURES / "openai_tool_calls.jsonl", 1)):
            page.goto(f"{url}/Import")
            expect(page.get_by_text("File to import").first).to_be_visible(timeout=60_000)
            page.locator("input[type=file]").set_input_files(str(upload))
            page.get_by_role("button", name=f"Import {rows} rows").click()
            expect(page.get_by_text(f"Imported {rows} row").first).to_be_visible(timeout=60_000)
        page.goto(f"{url}/Browse?row=1")
        expect(page.get_by_text("Example #1", exact=True)).to_be_visible(timeout=60_000)
        for text in ("You answer in a few words.", "Name a prime number.", "Seven.", "A larger one?", "Thirteen.",
                     "And an even prime?", "Two is the only even prime."):  # fmt: skip
            expect(shown(page, text)).to_be_visible(timeout=30_000)
        settle(page)
        top(page, "Edit conversation")
        page.screenshot(path=str(shots / "conversation_three_turns.png"))

        page.goto(f"{url}/Browse?row=2")
        expect(page.get_by_text("Example #2", exact=True)).to_be_visible(timeout=60_000)
        for text in ("Weather in Paris and Oslo?", "18 C, sunny", "4 C, rain", "call get_weather · id call_2"):
            expect(shown(page, text)).to_be_visible(timeout=30_000)
        page.get_by_text("Reasoning").first.click()
        expect(page.get_by_text("Two cities, so two calls.")).to_be_visible(timeout=30_000)
        settle(page)
        top(page, "turn 1 · user")
        page.screenshot(path=str(shots / "conversation_tool_calls.png"))

        page.goto(f"{url}/Browse?row=1")
        expect(page.get_by_text("Example #1", exact=True)).to_be_visible(timeout=60_000)
        page.get_by_text("Edit conversation").click()
        answer = page.get_by_label("Text", exact=True).nth(4)  # turn 4: "Thirteen."
        expect(answer).to_have_value("Thirteen.", timeout=30_000)
        answer.fill("Eleven, then thirteen.")
        answer.press("Tab")
        settle(page)
        page.get_by_role("button", name="Save conversation").click()
        expect(page.get_by_text("Saved the conversation of #1.")).to_be_visible(timeout=30_000)
        expect(shown(page, "Eleven, then thirteen.")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("turn 4 (assistant) changed:").first).to_be_visible(timeout=30_000)
        settle(page)
        top(page, "turn 4 (assistant) changed:")
        page.screenshot(path=str(shots / "conversation_edited.png"))
        page.get_by_role("button", name="Undo edit").click()
        expect(page.get_by_text("Undid the conversation edit of #1.")).to_be_visible(timeout=30_000)
        expect(shown(page, "Thirteen.")).to_be_visible(timeout=30_000)
        settle(page)
        top(page, "turn 3 · user")
        page.screenshot(path=str(shots / "conversation_undone.png"))
    store = Store(db)
    assert examples.get(store, 1)["messages"][4] == {"role": "assistant", "content": "Thirteen."}
    assert len(examples.get(store, 2)["messages"]) == 6
    store.close()
