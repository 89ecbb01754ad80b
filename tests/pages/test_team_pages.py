"""Login (sign in, wrong password, lock-out, expiry, sign out), role-filtered pages, the page-side role check,
and the Annotate / Campaigns pages, through app.py as a user meets them."""

from __future__ import annotations

import os
from pathlib import Path

import bcrypt
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from curation.filters import ExampleFilter
from curation.store import Store, examples
from curation.store import team as team_store
from curation.team import campaigns
from ui import auth

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PASSWORD = "correct horse"


@pytest.fixture
def users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    roles = {"vic": "viewer", "ann": "annotator", "bea": "annotator", "cur": "curator", "adm": "admin"}
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump({"users": {n: {"role": r, "password_hash": digest} for n, r in roles.items()}}))
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(path))
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "1")
    return path


def sign_in(name: str, password: str = PASSWORD) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="auth_name").input(name)
    at.text_input(key="auth_password").input(password)
    at.button(key="auth_submit").click().run()
    return at


def test_sign_in_shows_the_user_and_role_filtered_pages(users) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.title[0].value == "Sign in" and not at.exception
    at = sign_in("cur", "wrong password")
    assert at.error[0].value == "wrong user name or password"
    at = sign_in("cur")
    assert not at.exception, at.exception
    assert "Signed in as cur \\(curator\\)" in at.sidebar.caption[0].value
    # (pages a role may not open are refused by app.py; AppTest.switch_page runs a page without app.py, so the
    # refusal is checked in the real-browser test tests/e2e/test_team_browser.py)
    at.switch_page("pages/9_Mixture.py").run()
    assert not at.exception and not at.error


def test_repeated_failures_lock_the_name_and_are_logged(users) -> None:
    for _ in range(5):
        sign_in("adm", "nope nope")
    at = sign_in("adm")  # even the right password is refused while locked
    assert "too many failed sign-ins for 'adm'" in at.error[0].value.replace("\\", "")
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    try:
        log = team_store.login_log(store)
        assert log.ok.tolist().count(False) == 6 and set(log.username) == {"adm"}
    finally:
        store.close()


def test_sign_out_forgets_the_user_and_sessions_expire(users, monkeypatch) -> None:
    at = sign_in("vic")
    assert at.session_state["auth_user"]["name"] == "vic"
    at.button(key="auth_sign_out").click().run()
    assert "auth_user" not in at.session_state
    entry = {"name": "vic", "role": "viewer", "at": 1000.0}
    assert not auth.expired(entry, now=1000.0 + 480 * 60)
    assert auth.expired(entry, now=1000.0 + 480 * 60 + 1)
    monkeypatch.setenv("INSTRUCT_CURATOR_SESSION_MINUTES", "5")
    assert auth.expired(entry, now=1000.0 + 301)


def test_a_page_run_without_sign_in_acts_as_a_viewer_and_changes_nothing(users) -> None:
    page = str(ROOT / "pages" / "2_Review.py")
    at = AppTest.from_file(page, default_timeout=60).run()
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    before = examples.get(store, int(examples.page(store, ExampleFilter(statuses=["pending"]), limit=1)["id"][0]))
    store.close()
    at.button(key="review_q_approve").click().run()
    assert not at.exception
    assert any("anonymous (viewer) may not review" in e.value.replace("\\", "") for e in at.error)
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    try:
        assert examples.get(store, before["id"])["status"] == "pending"
    finally:
        store.close()


def current_row(at: AppTest) -> int:
    """The id in the record view's header line (`\\#12 · **pending** · ...`)."""
    return int(next(m.value for m in at.markdown if m.value.startswith("\\#")).split()[0][2:])


def test_annotators_answer_their_own_queue_and_curators_resolve(users) -> None:
    at = sign_in("cur")  # opens the store and loads the sample
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    flt = ExampleFilter(statuses=["pending"], origins=["generated"])
    cid = campaigns.create(
        store, campaigns.CampaignSpec("gen", flt, ("ann", "bea"), 2, "Reject vague tasks."), author="cur"
    )
    rows = sorted(set(team_store.assignments(store, cid).example_id))
    store.close()
    for name, decision in (("ann", "annotate_approve"), ("bea", "annotate_reject")):
        at = sign_in(name)
        at.switch_page("pages/11_Annotate.py").run()
        assert current_row(at) == rows[0] and not at.exception
        assert any(t.value == "Reject vague tasks." for t in at.text)  # the guidelines
        at.button(key=decision).click().run()
        assert current_row(at) == rows[1]  # the next row of their own queue
    at = sign_in("cur")
    at.switch_page("pages/12_Campaigns.py").run()
    assert not at.exception, at.exception
    assert any(h.value == "Disagreements (1)" for h in at.subheader)
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    try:
        latest = team_store.latest_responses(store, cid)
        assert latest[["annotator", "decision"]].values.tolist() == [["ann", "approved"], ["bea", "rejected"]]
        assert examples.get(store, rows[0])["status"] == "pending"  # responses never set the status
    finally:
        store.close()


@pytest.mark.parametrize(("name", "shown"), [("ann", False), ("cur", True)])
def test_browse_shows_approve_reject_and_save_only_to_those_who_may_use_them(users, name: str, shown: bool) -> None:
    at = sign_in(name)
    at.switch_page("pages/1_Browse.py").run()
    at.number_input(key="browse_goto").set_value(2)
    at.button(key="browse_open").click().run()
    keys = {b.key for b in at.button}
    assert "browse_row_next" in keys and not at.exception  # the row is open for both
    decisions = {"browse_row_approve", "browse_row_reject", "browse_row_extra_Pending"}
    assert (decisions & keys) == (decisions if shown else set())
    assert bool([t for t in at.text_area if t.key and t.key.startswith("browse_edit_")]) == shown


def test_create_campaign_empties_the_form_and_lists_annotators_as_names(users) -> None:
    at = sign_in("cur")
    at.switch_page("pages/12_Campaigns.py").run()
    at.text_input(key="camp_name").input("first look")
    at.multiselect(key="camp_annotators").select("ann").select("bea")
    at.text_area(key="camp_guidelines").input("Reject vague tasks.")
    at.button(key="FormSubmitter:camp_form-Create campaign").click().run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Campaign #1 created") for s in at.success)
    assert at.text_input(key="camp_name").value == "" and at.multiselect(key="camp_annotators").value == []
    assert at.text_area(key="camp_guidelines").value == ""
    listed = at.dataframe[0].value
    assert listed["annotators"].tolist() == ["ann, bea"] and listed["closed_at"].tolist() == [""]
    at.button(key="FormSubmitter:camp_form-Create campaign").click().run()  # a second click: nothing to create
    assert len(team_store.list_campaigns(Store(os.environ["INSTRUCT_CURATOR_DB"]))) == 1
