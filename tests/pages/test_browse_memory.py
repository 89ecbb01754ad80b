"""Browse keeps editor state only for the open row, so a long session does not grow with every row it opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "1_Browse.py")


@pytest.fixture
def with_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "1")


def test_opening_rows_one_after_another_keeps_only_the_open_ones_state(with_sample) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    for example_id in (1, 2, 3, 4):
        at.number_input(key="browse_goto").set_value(example_id).run()
        at.button(key="browse_open").click().run()
        assert not at.exception, at.exception
    assert "browse_loaded_4" in at.session_state and "browse_edit_4_output" in at.session_state
    for gone in (1, 2, 3):
        assert f"browse_loaded_{gone}" not in at.session_state
        assert f"browse_edit_{gone}_output" not in at.session_state
