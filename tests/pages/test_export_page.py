"""Export page: all approved rows or the current filter, written under exports_dir with a manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from curation.filters import ExampleFilter
from curation.store import Store, examples
from ui.text import inert

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "4_Export.py")


@pytest.fixture
def app_store(monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "1")
    AppTest.from_file(PAGE, default_timeout=60).run()
    return Store(os.environ["INSTRUCT_CURATOR_DB"])


def test_export_approved_rows_writes_file_manifest_and_offers_download(app_store: Store, tmp_path: Path) -> None:
    approved = examples.count(app_store, ExampleFilter(statuses=["approved"]))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.button(key="export_go").click().run()
    assert not at.exception and not at.error
    files = [p for p in (tmp_path / "exports").glob("*.json") if not p.name.endswith(".manifest.json")]
    assert len(files) == 1
    records = json.loads(files[0].read_text())
    assert len(records) == approved
    manifest = json.loads(Path(str(files[0]) + ".manifest.json").read_text())
    assert (manifest["rows"], manifest["filter"]) == (approved, {"statuses": ["approved"]})
    assert at.success[0].value == f"Exported {approved:,} rows to:"
    assert at.code[0].value == str(files[0])
    assert at.download_button(key="export_download").label == f"Download {files[0].name}"
    assert json.loads(at.json[0].value)["sha256"] == manifest["sha256"]
    assert at.dataframe[0].value["rows"].tolist() == [approved]


def test_export_current_filter_as_parquet(app_store: Store, tmp_path: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.multiselect(key="filter_w_origins").select("generated").run()
    at.radio(key="export_scope").set_value("Current filter").run()
    at.selectbox(key="export_format").set_value("parquet").run()
    at.button(key="export_go").click().run()
    files = list((tmp_path / "exports").glob("*.parquet"))
    frame = pd.read_parquet(files[0])
    assert set(frame["origin"]) == {"generated"}
    assert len(frame) == examples.count(app_store, ExampleFilter(origins=["generated"]))


def test_a_failed_write_is_an_error_box_not_a_traceback(
    app_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the exports folder should be")
    monkeypatch.setenv("INSTRUCT_CURATOR_EXPORTS_DIR", str(blocker))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.button(key="export_go").click().run()
    assert not at.exception
    assert at.error[0].value.startswith(inert(f"cannot write {blocker}/export-"))
    assert inert(": a file stands where a folder is needed on this path") in at.error[0].value
    assert blocker.read_text() == "a file where the exports folder should be"
