"""The record view in a real browser at 1366x768, walked with its keys on every page that uses it.

Import a GPTeacher-style JSON (answer field `response`) with a field mapping; Review queue (J, K, E, A, U);
Browse (J, K, A); Generate review (J, K, A, U); Dedup clusters of the Code Alpaca "Sort these numbers" case, whose
members differ in input (warning, whole example, K / J, A); Annotate as an annotator (J, K, A); a mistyped page URL.
(That annotators see no Approve / Reject / Save on Browse is checked with login on in tests/pages/test_team_pages.py.)
Each step checks that the decision bar, the status line and the example are on screen without horizontal
scrolling, and saves a screenshot to look at ($REVIEW_UI_ARTIFACTS, default: the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app

from curation.filters import ExampleFilter
from curation.identity import User, acting_as
from curation.io import sample_data
from curation.store import Store, examples
from curation.team import campaigns

pytestmark = [pytest.mark.browser, needs_chromium]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LONG = 60_000


def setup(tmp_path: Path) -> Path:
    """Sample rows, the Code Alpaca sort rows, and a campaign whose annotator is this app's author (login off)."""
    db = tmp_path / "review_ui.duckdb"
    store = Store(db)
    sample_data.load_sample(store)
    sort_rows = pd.DataFrame(json.loads((FIXTURES / "code_alpaca_sort.json").read_text()))
    examples.add_examples(store, sort_rows, examples.SourceInfo(name="code-alpaca-sort", format="alpaca"))
    with acting_as(User("cur", "curator")):
        flt = ExampleFilter(statuses=["pending"], origins=["generated"])
        campaigns.create(store, campaigns.CampaignSpec("look", flt, ("browser",), 1), author="cur")
    store.close()
    return db


class Walk:
    def __init__(self, page, url: str, shots: Path, expect) -> None:
        self.page, self.url, self.shots, self.expect, self.step = page, url, shots, expect, 0

    def open(self, path: str, ready: str | re.Pattern) -> None:
        self.page.goto(f"{self.url}/{path}")
        self.see(ready)

    def see(self, text: str | re.Pattern, timeout: int = LONG) -> None:
        self.expect(self.page.get_by_text(text).first).to_be_visible(timeout=timeout)

    def idle(self) -> None:
        self.page.wait_for_timeout(700)
        self.expect(self.page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=LONG)

    def key(self, key: str) -> None:
        """Press a decision key as a user would: with nothing focused, after the previous rerun ended."""
        self.idle()
        self.page.evaluate("document.activeElement && document.activeElement.blur()")
        self.page.keyboard.press(key)
        self.idle()

    def header_id(self) -> int:
        """The id of the record view's status line ('#12 · pending · source ...')."""
        line = self.page.get_by_text(re.compile(r"^#\d+ · ")).first
        self.expect(line).to_be_visible(timeout=LONG)
        return int(re.match(r"#(\d+)", line.inner_text()).group(1))

    def in_view(self, locator) -> None:
        """Fully inside the 1366x768 window, without scrolling."""
        self.expect(locator).to_be_in_viewport(ratio=1.0)

    def shot(self, name: str) -> None:
        self.idle()
        self.expect(self.page.get_by_test_id("stException")).to_have_count(0)
        no_sideways = (
            "[...document.querySelectorAll('*')].every(e => !(e.scrollWidth > e.clientWidth + 1 && "
            "['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) || e.closest('[data-testid=stDataFrame]'))"
        )
        assert self.page.evaluate(no_sideways), f"{name}: something scrolls sideways"
        assert self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        self.step += 1
        self.page.screenshot(path=str(self.shots / f"{self.step:02d}_{name}.png"))


def decision_bar(walk: Walk, prefix: str, *, scroll: bool = False) -> None:
    """The bar's first button is on screen (after scrolling the section into view, where the page has more above)."""
    bar = walk.page.locator(f"[class*='st-key-{prefix}_'] button").first
    if scroll:
        bar.evaluate(  # to the top, below Streamlit's header
            "b => { b.scrollIntoView({block: 'start'}); let e = b.parentElement;"
            " while (e && !['auto', 'scroll'].includes(getComputedStyle(e).overflowY)) e = e.parentElement;"
            " (e || document.scrollingElement).scrollBy(0, -80); }"
        )
        walk.page.wait_for_timeout(300)
    walk.in_view(bar)


def test_record_view_with_keys_on_every_page(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    shots = Path(os.environ.get("REVIEW_UI_ARTIFACTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    db = setup(tmp_path)
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), browser_page() as page:
        w = Walk(page, url, shots, expect)

        w.open("Browsee", "No such page: /Browsee")  # a typo is not silently the Overview
        w.shot("no_such_page")

        # Import a GPTeacher-style file: `response` is preselected as the output; no CLI flag anywhere.
        w.open("Import", "File to import")
        page.locator("input[type=file]").set_input_files(str(FIXTURES / "gpteacher_roleplay.json"))
        w.see("Fields in the first records: instruction, input, response")
        output_field = page.locator("[class*='st-key-import_map_gpteacher_roleplay'][class*='json_output']")
        expect(output_field.locator("input")).to_have_value("response")  # a common answer name, preselected
        expect(page.get_by_text(re.compile(r"--[a-z]"))).to_have_count(0)
        w.shot("import_mapping")
        page.get_by_role("button", name="Import 3 rows").click()
        w.see("Imported 3 rows")

        # Review queue: J / K move, E edits in place, A approves, U undoes.
        w.open("Review?filter_w_search=innkeeper", "Review queue")
        first = w.header_id()
        decision_bar(w, "review_q")
        w.in_view(page.get_by_text(re.compile(r"^#\d+ · ")).first)
        w.in_view(page.get_by_text("Come in, come in!", exact=False).first)  # the whole example
        w.shot("review_record")
        w.key("e")
        expect(page.get_by_label("Output", exact=True)).to_be_visible(timeout=LONG)
        page.get_by_label("Output", exact=True).press_sequentially(" jade")  # j, a, d, e typed are text, not keys
        expect(page.get_by_label("Output", exact=True)).to_have_value(re.compile(r"stew\. jade$"))
        assert w.header_id() == first
        w.shot("review_edit")
        page.get_by_role("button", name="Cancel").click()
        w.idle()
        w.key("a")
        w.see(f"Example #{first} approved.")
        w.key("u")
        w.see(re.compile(r"^Undid your last decision"))
        w.open("Review", "Review queue")
        start = w.header_id()
        w.key("j")
        expect(page.get_by_text(re.compile(r"^#\d+ · ")).first).not_to_have_text(re.compile(rf"^#{start} "))
        w.key("k")
        assert w.header_id() == start
        w.shot("review_keys")

        # Browse: the open row with the same bar; J / K step through the table page; A approves.
        w.open(f"Browse?row={start}", f"Example #{start}")
        decision_bar(w, "browse_row")
        w.key("j")
        w.see(re.compile(r"^Example #\d+$"))
        w.key("k")
        w.see(f"Example #{start}")
        w.key("a")
        w.see(f"Example #{start} is now approved.")
        w.shot("browse_record")
        page.get_by_role("button", name="Close").click()
        w.idle()
        w.shot("browse_table")

        # Generate review: one task at a time (fake backend), J / K, A, U.
        w.open("Generate", "Pool")
        page.get_by_text("fake", exact=True).click()
        expect(page.locator(".st-key-gen_n input")).to_have_count(1, timeout=LONG)
        page.get_by_role("button", name="Start generation").click()
        w.see(re.compile(r"job #\d+ · .* · succeeded"), timeout=4 * LONG)
        w.see(re.compile(r"^Task 1 of \d+"))
        decision_bar(w, "gen_review", scroll=True)  # the review sits below the run settings
        w.key("j")
        w.see(re.compile(r"^Task 2 of \d+"))
        w.key("k")
        w.see(re.compile(r"^Task 1 of \d+"))
        w.key("a")
        w.see(re.compile(r"^Approved: \d+ rows"))
        w.key("u")
        w.see(re.compile(r"^Undid your last decision"))
        w.shot("generate_review")

        # Dedup: the Code Alpaca case. Comparing instructions only, the 25 'Sort these numbers' rows with different
        # inputs cluster with one unrelated row: the cluster warns, and each card shows input and output.
        w.open("Dedup", "Find duplicates")
        w.see("the default compares instruction + input")
        page.locator(".st-key-dd_scope").click()
        page.get_by_role("option", name="instruction only").click()
        w.idle()
        page.get_by_role("button", name="Find duplicates").click()
        w.see(re.compile(r"job #\d+ · .* · succeeded"), timeout=4 * LONG)
        page.get_by_role("tab", name="Review clusters").click()
        page.get_by_label("Search clusters (instruction or input contains)").fill("Sort these numbers")
        page.get_by_label("Search clusters (instruction or input contains)").press("Enter")
        w.see(re.compile(r"^The members of this cluster differ in input \(\d+ different inputs\)"))
        expect(page.locator("[data-field=input]").first).to_be_visible()  # each card shows input and output
        expect(page.locator("[data-field=output]").first).to_be_visible()
        decision_bar(w, "dd_review", scroll=True)  # below the run summary and the cluster table
        w.key("a")
        w.shot("dedup_cluster")

        # Annotate (login off: the campaign's annotator is this app's author): the same bar, no Undo or Edit.
        w.open("Annotate", re.compile(r"\d+ of \d+ answered"))
        decision_bar(w, "annotate")
        first = w.header_id()
        w.key("j")
        assert w.header_id() != first
        w.key("k")
        assert w.header_id() == first
        w.key("a")
        w.see(f"Recorded approved on #{first}.")
        w.shot("annotate")
