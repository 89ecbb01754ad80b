"""A deep link opened first after a server start shows the app's own navigation (sections), not pages/ discovery,
with login off and with login on (the sign-in form first, then the linked page)."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
import yaml
from browser_support import app_env, browser_page, needs_chromium, running_app, sample_db

pytestmark = [pytest.mark.browser, needs_chromium]


def test_deep_link_first_request_gets_sections(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    db = sample_db(tmp_path / "nav.duckdb")
    with running_app(tmp_path, app_env(tmp_path, db)) as (url, _), browser_page() as page:
        page.goto(f"{url}/Browse")  # the very first request this server sees
        expect(page.get_by_text("matching rows").first).to_be_visible(timeout=60_000)
        assert_sectioned_navigation(page, expect)
        assert page.url.endswith("/Browse")


def test_deep_link_first_request_with_login_on_signs_in_then_shows_the_page(tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    db = sample_db(tmp_path / "nav.duckdb")
    users = tmp_path / "users.yaml"
    digest = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4)).decode()
    users.write_text(yaml.safe_dump({"users": {"ada": {"role": "admin", "password_hash": digest}}}))
    env = app_env(tmp_path, db) | {"INSTRUCT_CURATOR_USERS_FILE": str(users)}
    with running_app(tmp_path, env) as (url, _), browser_page() as page:
        page.goto(f"{url}/Browse")  # the very first request this server sees
        expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible(timeout=60_000)
        expect(page.get_by_role("link", name="Finetune")).to_have_count(0)  # no pages/ discovery, even here
        expect(page.get_by_role("link", name="app", exact=True)).to_have_count(0)
        page.get_by_label("User name", exact=True).fill("ada")
        page.get_by_label("Password", exact=True).fill("correct horse")
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_text("matching rows").first).to_be_visible(timeout=60_000)
        assert_sectioned_navigation(page, expect)
        assert page.url.endswith("/Browse")


def assert_sectioned_navigation(page, expect) -> None:
    nav = page.get_by_test_id("stSidebarNav")
    for section in ("Data", "Build", "Curate", "Train"):
        expect(nav.get_by_text(section, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Fine-tune")).to_be_visible()
    expect(nav.get_by_role("link", name="Finetune")).to_have_count(0)
    expect(nav.get_by_role("link", name="app", exact=True)).to_have_count(0)
