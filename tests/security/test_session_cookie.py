"""Login survives a reload: a signed, expiring token in a cookie signs the browser back in; sign-out and a role
change end it. Unit tests on the token, and a real browser against `streamlit run`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import bcrypt
import pytest
import yaml

from curation.identity import User
from curation.store import Store
from curation.team import accounts, sessions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from browser_support import CHROMIUM, app_env, browser_page, running_app, sample_db

PASSWORD = "correct horse"


def write_users(path: Path, roles: dict[str, str]) -> Path:
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(yaml.safe_dump({"users": {n: {"role": r, "password_hash": digest} for n, r in roles.items()}}))
    path.chmod(0o600)
    return path


def test_a_token_holds_until_revoked_expired_tampered_or_the_role_changes(tmp_path, monkeypatch) -> None:
    users = {"cur": accounts.Account("cur", "curator", "")}
    with Store(tmp_path / "s.duckdb") as store:
        token = sessions.issue(store, User("cur", "curator"))
        user, age = sessions.verify(store, token, users)
        assert user == User("cur", "curator") and 0 <= age < 60
        token_id, expiry, signature = token.split(".")
        assert sessions.verify(store, f"{token_id}.{int(expiry) + 3600}.{signature}", users) is None  # longer life
        assert sessions.verify(store, f"{token_id}.{expiry}.{'0' * 64}", users) is None  # forged signature
        assert sessions.verify(store, token, {"cur": accounts.Account("cur", "admin", "")}) is None  # role changed
        assert sessions.verify(store, token, users) is None  # and revoked for good
        second = sessions.issue(store, User("cur", "curator"))
        sessions.revoke(store, second)
        assert sessions.verify(store, second, users) is None
        monkeypatch.setenv("INSTRUCT_CURATOR_SESSION_MINUTES", "0.0001")
        short = sessions.issue(store, User("cur", "curator"))
        time.sleep(0.05)
        assert sessions.verify(store, short, users) is None
        assert len(store.fact(sessions.SECRET_FACT)) == 64


def _sign_in(expect, page, url: str, name: str) -> None:
    page.goto(url)
    expect(page.get_by_text("Sign in", exact=True).first).to_be_visible(timeout=60_000)
    page.get_by_label("User name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=60_000)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium at /usr/bin/chromium (CI installs it)")
def test_sign_in_survives_a_reload_until_sign_out_or_a_role_change(tmp_path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    users = write_users(tmp_path / "users.yaml", {"cur": "curator", "bea": "curator"})
    env = app_env(tmp_path, sample_db(tmp_path / "team.duckdb")) | {"INSTRUCT_CURATOR_USERS_FILE": str(users)}
    with running_app(tmp_path, env) as (url, _), browser_page() as page:
        _sign_in(expect, page, url, "cur")
        page.wait_for_timeout(1000)  # the cookie is written by the run after sign-in
        page.goto(f"{url}/Browse")  # a typed URL, as a reload or a shared link
        expect(page.get_by_text("Signed in as cur (curator)")).to_be_visible(timeout=60_000)
        page.reload()
        expect(page.get_by_text("Signed in as cur (curator)")).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("User name", exact=True)).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)
        page.reload()
        expect(page.get_by_label("User name", exact=True)).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Signed in as")).to_have_count(0)

        _sign_in(expect, page, url, "bea")
        page.wait_for_timeout(1000)
        write_users(users, {"cur": "curator", "bea": "viewer"})  # an admin demotes bea
        page.reload()
        expect(page.get_by_label("User name", exact=True)).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Signed in as")).to_have_count(0)
