"""Every page: an unexpected failure is an error box with the cause, never a stack trace in the browser.

app.py runs every page inside one guard; AppTest's switch_page bypasses app.py, so this drives the default page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curation.store import examples
from ui.text import inert

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_a_failing_page_shows_the_cause_in_an_error_box(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line with details")

    monkeypatch.setattr(examples, "list_sources", broken)
    at = AppTest.from_file(APP, default_timeout=60).run()  # the Overview page, run through app.py's navigation
    assert not at.exception
    assert at.error[0].value == inert("RuntimeError: disk on fire")
    assert at.caption[-1].value == "Nothing more was done. The full traceback is in the server log."
