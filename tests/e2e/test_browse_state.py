"""Browse in a real browser: a link opens filter and row; editor beside the table; keys (J: next row); reload keeps
it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app

from curation.filters import ExampleFilter
from curation.io import sample_data
from curation.store import Store, examples, revisions

pytestmark = [pytest.mark.browser, needs_chromium]


def test_link_opens_filter_and_row_keys_move_and_save_reload_keeps_all(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    db = tmp_path / "browse.duckdb"
    store = Store(db)
    sample_data.load_sample(store)
    first, second = examples.page(store, ExampleFilter(search="capital"), limit=2)["id"].tolist()
    store.close()
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), browser_page() as page:
        page.goto(f"{url}/Browse?filter_w_search=capital&row={first}")
        expect(page.get_by_text("30 matching rows")).to_be_visible(timeout=60_000)
        expect(page.get_by_text(f"Example #{first}", exact=True)).to_be_visible(timeout=30_000)
        table = page.get_by_test_id("stDataFrame").first.bounding_box()
        editor = page.get_by_label("Instruction", exact=True).bounding_box()
        assert editor["x"] > table["x"] + table["width"] - 1 and editor["y"] < 768  # beside, in view
        page.wait_for_timeout(700)
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("j")  # the record view's Next
        expect(page.get_by_text(f"Example #{second}", exact=True)).to_be_visible(timeout=30_000)
        output = page.get_by_label("Output", exact=True)
        # the previous row's editor is gone (stale until the rerun ends)
        expect(output).to_have_count(1, timeout=30_000)
        output.fill("Saved with the keyboard.")
        output.press("Control+s")
        expect(page.get_by_text(f"Saved example #{second} (now version 2).")).to_be_visible(timeout=30_000)
        assert f"row={second}" in page.url and "filter_w_search=capital" in page.url
        page.reload()
        expect(page.get_by_text("30 matching rows")).to_be_visible(timeout=60_000)
        expect(page.get_by_text(f"Example #{second}", exact=True)).to_be_visible(timeout=30_000)
        filter_button = page.get_by_role("button", name=re.compile(r"^Filter: text contains 'capital'"))
        expect(filter_button).to_be_visible(timeout=30_000)  # the filter popover's label says what is filtered
        page.wait_for_timeout(1500)  # let the table paint before the screenshot
        page.screenshot(path=str(tmp_path / "browse.png"))
    store = Store(db)
    assert revisions.history(store, second)["new_value"].tolist() == ["Saved with the keyboard."]
    store.close()
