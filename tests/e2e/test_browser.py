"""End to end in a real headless Chromium against `streamlit run app.py`: filter, edit, reload, edit persisted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, app_env, running_app

from curation.filters import ExampleFilter
from curation.io import sample_data
from curation.store import Store, examples, revisions

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium at /usr/bin/chromium (CI installs it)"),
]


def filled_db(path: Path) -> int:
    """Sample data in a fresh DB; returns the id of the first row whose text mentions 'capital'."""
    store = Store(path)
    sample_data.load_sample(store)
    example_id = int(examples.page(store, ExampleFilter(search="capital"), limit=1)["id"].iloc[0])
    store.close()
    return example_id


def test_filter_edit_reload_persists(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    db = tmp_path / "e2e.duckdb"
    example_id = filled_db(db)
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            drive(playwright_api, browser.new_page(), url, example_id)
        finally:
            browser.close()
    store = Store(db)
    history = revisions.history(store, example_id)
    assert history[["field", "new_value", "author"]].values.tolist() == [["output", EDITED, "browser"]]
    store.close()


EDITED = "Edited in a real browser: <b>kept as text</b>"


def open_example(page, expect, example_id: int) -> None:
    goto = page.get_by_label("Open example id", exact=True)
    goto.fill(str(example_id))
    goto.press("Enter")
    page.locator(".st-key-browse_open button").click()
    expect(page.get_by_text(f"Example #{example_id}", exact=True)).to_be_visible(timeout=30_000)


def drive(api, page, url: str, example_id: int) -> None:
    expect = api.expect
    page.goto(url)
    expect(page.get_by_text("instruct-curator", exact=True).first).to_be_visible(timeout=60_000)
    page.goto(f"{url}/Browse")
    expect(page.get_by_text("matching rows").first).to_be_visible(timeout=60_000)
    page.get_by_role("button", name=re.compile(r"^Filter")).click()  # the filter popover at the top of the page
    search = page.get_by_label("Search text", exact=True)
    search.fill("capital")
    search.press("Enter")
    expect(page.get_by_text("30 matching rows")).to_be_visible(timeout=30_000)
    page.keyboard.press("Escape")  # close the popover
    open_example(page, expect, example_id)
    output = page.get_by_label("Output", exact=True)
    # the previous row's editor is gone (stale until the rerun ends)
    expect(output).to_have_count(1, timeout=30_000)
    output.fill(EDITED)
    page.get_by_role("button", name="Save").click()  # its name also carries the Ctrl+S shortcut
    expect(page.get_by_text(f"Saved example #{example_id} (now version 2).")).to_be_visible(timeout=30_000)
    page.reload()  # the URL holds the filter and the open row (?row=ID), so the row is open again
    expect(page.get_by_text(f"Example #{example_id}", exact=True)).to_be_visible(timeout=60_000)
    expect(page.get_by_label("Output", exact=True)).to_have_value(EDITED, timeout=60_000)
