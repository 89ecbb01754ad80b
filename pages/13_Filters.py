"""Filters: any curation operation (judge rating, language, quality, PII ...) over the filtered rows: score as a job,
see the scores and what its decisions would change, apply them as one undoable action."""

from __future__ import annotations

from functools import partial

import streamlit as st

from ui import feedback
from ui.filters import filter_sidebar
from ui.operations import operation_panel
from ui.state import author, get_runner, get_store

FLASH = "ops_flash"

store = get_store()
runner = get_runner()
flash = partial(feedback.flash, FLASH)

st.title("Filters")
feedback.show_flash(FLASH)
current = filter_sidebar(store)
operation_panel(store, runner, current, flash=flash, author=author())
