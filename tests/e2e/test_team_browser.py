"""Team review in a real browser: sign in, a page the role may not open is refused, and two annotators answer
their own queues at the same time in two browser sessions without touching each other's decisions."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
import yaml
from browser_support import CHROMIUM, CHROMIUM_ARGS, app_env, running_app

from curation.filters import ExampleFilter
from curation.identity import User, acting_as
from curation.io import sample_data
from curation.store import Store, examples
from curation.store import team as team_store
from curation.team import campaigns

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium at /usr/bin/chromium (CI installs it)"),
]


def setup(tmp_path: Path) -> tuple[Path, Path, int, list[int]]:
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    users = tmp_path / "users.yaml"
    roles = {"ann": "annotator", "bea": "annotator", "cur": "curator"}
    users.write_text(yaml.safe_dump({"users": {n: {"role": r, "password_hash": digest} for n, r in roles.items()}}))
    db = tmp_path / "team.duckdb"
    store = Store(db)
    sample_data.load_sample(store)
    with acting_as(User("cur", "curator")):
        flt = ExampleFilter(statuses=["pending"], origins=["generated"])
        cid = campaigns.create(store, campaigns.CampaignSpec("gen", flt, ("ann", "bea"), 2), author="cur")
    rows = sorted(set(team_store.assignments(store, cid).example_id))[:3]
    store.close()
    return users, db, cid, rows


def sign_in(api, page, url: str, name: str) -> None:
    page.goto(url)
    api.expect(page.get_by_text("Sign in", exact=True).first).to_be_visible(timeout=60_000)
    page.get_by_label("User name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    api.expect(page.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=60_000)


def test_two_annotators_review_concurrently_and_roles_are_enforced(tmp_path: Path, monkeypatch) -> None:
    api = pytest.importorskip("playwright.sync_api")
    users, db, cid, rows = setup(tmp_path)
    env = app_env(tmp_path, db) | {"INSTRUCT_CURATOR_USERS_FILE": str(users)}
    with running_app(tmp_path, env) as (url, _), api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            drive(api, browser, url, rows, tmp_path)
        finally:
            browser.close()
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(users))  # the app made it a team database
    store = Store(db)
    try:
        latest = team_store.latest_responses(store, cid)
        got = {(int(r.example_id), r.annotator): r.decision for r in latest.itertuples()}
        assert got == {(rows[0], "ann"): "approved", (rows[1], "ann"): "approved",
                       (rows[0], "bea"): "rejected", (rows[1], "bea"): "rejected"}  # fmt: skip
        assert {examples.get(store, i)["status"] for i in rows} == {"pending"}
    finally:
        store.close()


def drive(api, browser, url: str, rows: list[int], shots: Path) -> None:
    expect = api.expect
    curator = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    sign_in(api, curator, url, "cur")
    expect(curator.get_by_role("link", name="Fine-tune")).to_have_count(0)  # hidden for a curator
    curator.get_by_role("link", name="Campaigns").click()
    expect(curator.get_by_text("Campaigns", exact=True).first).to_be_visible(timeout=30_000)
    pages = {}
    for name in ("ann", "bea"):
        page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        sign_in(api, page, url, name)
        page.get_by_role("link", name="Annotate").click()
        expect(page.get_by_text(f"#{rows[0]} ", exact=False).first).to_be_visible(timeout=30_000)
        pages[name] = page
    for following in (rows[1], rows[2]):  # interleaved: ann, bea, ann, bea
        for name, key in (("ann", "annotate_approve"), ("bea", "annotate_reject")):
            pages[name].locator(f".st-key-{key} button").click()
            expect(pages[name].get_by_text(f"#{following} ", exact=False).first).to_be_visible(timeout=30_000)
    pages["ann"].screenshot(path=str(shots / "annotate.png"))
    for page in pages.values():
        expect(page.get_by_text("Traceback")).to_have_count(0)
