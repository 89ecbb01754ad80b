"""A viewer (or anyone whose role was lowered while a page was open) who clicks a page's main action sees one
line saying it was refused, never a traceback, and nothing changes. Runs through app.py's navigation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curation import identity
from curation.store import Store, revisions
from ui import state

APP = str(Path(__file__).resolve().parents[2] / "app.py")
VIEWER = identity.User("vic", "viewer")


@pytest.fixture
def as_viewer(monkeypatch: pytest.MonkeyPatch):
    """Pages open (login off), but every change is made by a viewer, as after a role change in the users file."""
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "1")
    identity.set_provider(lambda: VIEWER)
    yield
    identity.set_provider(state._session_user)


def _page(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def _refused(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value.replace("\\", "") for e in [*at.error, *at.code]]
    assert len([text for text in shown if "vic (viewer) may not" in text]) == 1, shown


def _changes() -> int:
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])  # same process as the app: shares its database instance
    return len(revisions.list_actions(store, None, 1000))


# (page, how to reach its main action): the buttons whose callbacks run before the page script
MAIN_ACTIONS = {
    "templates: write templated rows": ("pages/5_Templates.py", [], "tpl_apply_write"),
    "generate: start (fake backend)": ("pages/6_Generate.py", [("radio", "gen_backend", "fake")], "gen_start"),
    "dedup: find duplicates": ("pages/7_Dedup.py", [], "dd_start"),
    "cot: run the detector": ("pages/8_CoT.py", [], "cot_run"),
    "cot: apply the threshold": ("pages/8_CoT.py", [], "cot_apply"),
    "mixture: export a snapshot": ("pages/9_Mixture.py", [], "mix_export"),
    "review: approve in the queue": ("pages/2_Review.py", [], "review_q_approve"),
    "export": ("pages/4_Export.py", [], "export_go"),
}


@pytest.mark.parametrize("case", list(MAIN_ACTIONS))
def test_a_refused_main_action_is_one_line(as_viewer, case: str) -> None:
    path, steps, key = MAIN_ACTIONS[case]
    at = _page(path)
    for kind, widget_key, value in steps:
        getattr(at, kind)(key=widget_key).set_value(value).run()
    before = _changes()
    at.button(key=key).click().run()
    _refused(at)
    assert _changes() == before


def test_overview_undo_is_refused(as_viewer) -> None:
    at = _page("pages/0_Overview.py")  # opens the store and loads the sample
    store = Store(os.environ["INSTRUCT_CURATOR_DB"])
    with identity.acting_as(identity.SYSTEM):
        result = revisions.set_status(store, "rejected", author="cur", ids=[1, 2, 3])
    assert result.rows
    at.run()
    before = _changes()
    next(b for b in at.button if b.key and "_undo_" in b.key).click().run()
    _refused(at)
    assert _changes() == before
