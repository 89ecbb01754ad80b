"""A user's journey through the pages in a real browser at 1366x768, one screenshot per step.

import -> browse/edit -> edit conflict between two sessions -> review keys A/D/S/U -> bulk review (tab kept) ->
template apply (tab kept) -> generate (fake backend) -> dedup find, apply, undo (tab kept) -> CoT run -> mixture
export -> fine-tune launch (fake trainer) watched to the end -> export. Each step asserts what the user sees: no
exception text, job results without another click. Screenshots land in $JOURNEY_ARTIFACTS (default: the test's
tmp folder).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from browser_support import app_env, browser_page, needs_chromium, running_app, sample_db

pytestmark = [pytest.mark.browser, needs_chromium]
SUCCEEDED = re.compile(r"job #\d+ · .* · succeeded")
LONG = 60_000


class Journey:
    def __init__(self, page, url: str, shots: Path, expect) -> None:
        self.page, self.url, self.shots, self.expect, self.step = page, url, shots, expect, 0

    def open(self, path: str, ready: str) -> None:
        self.page.goto(f"{self.url}/{path}")
        try:
            self.expect(self.page.get_by_text(ready).first).to_be_visible(timeout=LONG)
        except AssertionError:
            self.page.screenshot(path=str(self.shots / f"failed_{path.split('?')[0] or 'overview'}.png"))
            raise

    def see(self, text: str | re.Pattern, timeout: int = LONG) -> None:
        self.expect(self.page.get_by_text(text).first).to_be_visible(timeout=timeout)

    def click(self, name: str | re.Pattern) -> None:
        self.page.get_by_role("button", name=name).first.click()

    def idle(self) -> None:
        """Wait until the page is not running (the status widget, shown after a moment, is gone)."""
        self.page.wait_for_timeout(700)
        self.expect(self.page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=LONG)

    def shot(self, name: str) -> None:
        """Check no exception is shown, then save a screenshot for a person to look at."""
        self.idle()
        # widgets still loading their code show as grey placeholders: wait for them, as a person would
        placeholders = self.page.locator("[data-testid=stSkeleton], [data-testid=stSkeletonElement]")
        self.expect(placeholders).to_have_count(0, timeout=LONG)
        self.expect(self.page.get_by_test_id("stException")).to_have_count(0)
        self.expect(self.page.get_by_text("Traceback")).to_have_count(0)
        self.step += 1
        self.page.screenshot(path=str(self.shots / f"{self.step:02d}_{name}.png"))

    def tab_selected(self, label: str) -> None:
        self.expect(self.page.get_by_role("tab", name=label)).to_have_attribute("aria-selected", "true")


def test_journey(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    shots = Path(os.environ.get("JOURNEY_ARTIFACTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    db = sample_db(tmp_path / "journey.duckdb")
    upload = tmp_path / "journey.json"
    upload.write_text(
        json.dumps([{"instruction": f"Name the journeyword colour {i}.", "output": "Blue."} for i in range(3)])
    )
    with running_app(tmp_path, app_env(tmp_path, db), fake_trainer=True) as (url, _), browser_page() as page:
        j = Journey(page, url, shots, expect)
        j.open("", "Recent changes")
        j.shot("overview")

        j.open("Import", "File to import")
        page.locator("input[type=file]").set_input_files(str(upload))
        j.click("Import 3 rows")
        j.see("Imported 3 rows")
        expect(page.get_by_role("button", name="Import 3 rows")).to_have_count(0)  # no easy double import
        j.shot("import")

        j.open("Browse?filter_w_search=journeyword", "3 matching rows")
        page.wait_for_timeout(1500)  # the grid is a canvas: click the first row's selection box once painted
        box = page.get_by_test_id("stDataFrame").first.bounding_box()
        page.mouse.click(box["x"] + 16, box["y"] + 36 + 36)
        j.see(re.compile(r"^Example #\d+$"))
        output = page.get_by_label("Output", exact=True)
        # the previous row's editor is gone (stale until the rerun ends)
        expect(output).to_have_count(1, timeout=30_000)
        output.fill("Green.")
        output.press("Control+s")
        j.see(re.compile(r"Saved example #\d+ \(now version 2\)\."))
        j.shot("browse_edit")

        # Two sessions edit the same row: the second save is refused with both versions shown, nothing lost.
        row = re.search(r"\d+", page.get_by_text(re.compile(r"^Example #\d+$")).first.inner_text()).group()
        other = page.context.browser.new_page(viewport=page.viewport_size)  # a second session
        mine = Journey(other, url, shots, expect)
        mine.open(f"Browse?row={row}", f"Example #{row}")
        expect(other.get_by_label("Output", exact=True)).to_have_value("Green.", timeout=LONG)
        j.open(f"Browse?row={row}", f"Example #{row}")
        page.get_by_label("Output", exact=True).fill("Teal.")
        page.get_by_label("Output", exact=True).press("Control+s")
        j.see(re.compile(r"now version 3"))
        other.get_by_label("Output", exact=True).fill("Purple.")
        other.get_by_label("Output", exact=True).press("Control+s")
        mine.see(f"Someone else saved example #{row} while you were editing")
        mine.see("Nothing was lost")
        expect(other.get_by_text("Teal.", exact=True).first).to_be_visible()  # theirs, beside mine
        expect(other.get_by_text("Purple.", exact=True).first).to_be_visible()
        mine.step = j.step
        mine.shot("browse_conflict")
        j.step = mine.step
        other.get_by_role("button", name=re.compile(r"^Keep mine")).click()
        mine.see(re.compile(rf"Saved example #{row} \(now version 4\)\."))
        other.close()

        j.open("Review", "Review queue")
        expect(page.locator(".st-key-review_q_approve button")).to_be_enabled(timeout=LONG)
        page.keyboard.press("A")
        j.see(re.compile(r"^Example #\d+ approved\.$"))
        j.idle()  # a key pressed during the rerun is lost, as for a user
        page.keyboard.press("D")
        j.see(re.compile(r"^Example #\d+ rejected\.$"))
        j.idle()
        page.keyboard.press("S")
        j.see("1 skipped this session")
        j.idle()
        page.wait_for_timeout(1000)
        page.keyboard.press("U")
        j.see(re.compile(r"^Undid your last decision"))
        j.shot("review_keys")
        page.get_by_role("tab", name="Bulk review").click()
        j.click(re.compile(r"^Approve all"))
        j.click(re.compile(r"^Yes, change"))
        expect(page.get_by_role("button", name=re.compile(r"^Yes, change"))).to_have_count(0, timeout=LONG)
        j.tab_selected("Bulk review")  # the bulk action kept the user on this tab
        j.shot("review_bulk")

        j.open("Templates?templates_tab=Apply+to+data", "Task registry")
        j.tab_selected("Apply to data")
        j.click(re.compile(r"^Write [\d,]+ templated rows"))
        j.see(re.compile(r"^Wrote [\d,]+ templated rows for task"))
        j.tab_selected("Apply to data")  # writing rows used to jump back to the first tab
        j.shot("templates_apply")

        j.open("Generate", "Pool")
        page.get_by_text("fake", exact=True).click()
        expect(page.locator(".st-key-gen_n input")).to_have_count(1, timeout=LONG)
        j.click("Start generation")
        j.see(SUCCEEDED, timeout=4 * LONG)  # minutes on a busy shared machine
        j.see(re.compile(r"kept \d+ tasks"))
        j.shot("generate")

        j.open("Dedup", "Find duplicates")
        j.click("Find duplicates")
        j.see(SUCCEEDED)
        j.see(re.compile(r"duplicates proposed"))
        page.get_by_role("tab", name="Review clusters").click()
        j.click("Accept all clusters")
        j.tab_selected("Review clusters")  # "Accept all" used to jump back to the first tab
        j.click(re.compile(r"^Apply: mark"))
        j.click("Undo this dedup")
        expect(page.get_by_role("button", name=re.compile(r"^Apply: mark"))).to_be_enabled(timeout=LONG)
        j.tab_selected("Review clusters")
        j.shot("dedup")

        j.open("CoT", "Detector")
        j.click("Run detector")
        j.see(SUCCEEDED)
        j.see("0 rows of the current filter need scoring.")  # the page refreshed by itself
        j.shot("cot")

        j.open("Mixture", "Preview")
        j.click("Export snapshot")
        j.see(SUCCEEDED)
        j.see("wrote snapshot")
        expect(page.get_by_text("No snapshots yet")).to_have_count(0)
        j.shot("mixture")

        j.open("Finetune", "Launch training")
        for key, value in (("ft_max_steps", "4"), ("ft_eval_interval", "0")):
            page.locator(f".st-key-{key} input").fill(value)
            page.locator(f".st-key-{key} input").press("Enter")
            j.idle()
        j.click("Launch training")
        # the settings check loads the tokenizer (the packaged model's first use converts it: minutes on a busy CI)
        j.see(re.compile(r"^Status: (running|succeeded)"), timeout=4 * LONG)  # the page went to the monitor by itself
        j.see(re.compile(r"^Status: succeeded"))  # ...and shows the end of the run without a click
        j.see("succeeded: step 4/4")
        j.see("fake trainer: succeeded at step 4", timeout=30_000)  # the log tail
        j.shot("finetune")

        j.open("Export", "Export")
        j.click("Export")
        j.see(re.compile(r"rows"))
        j.shot("export")
