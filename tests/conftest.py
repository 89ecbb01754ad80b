"""Shared fixtures: a temporary store, a row factory, and offline settings for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CURATION_NO_PROGRESS", "1")

from curation.store import (
    Store,
    examples,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def _model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One float32 SmolLM2 folder for the whole session: it only depends on the packaged GGUF (~35 s to build)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _app_navigation_switched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest resets Streamlit's pages/ flag before every run, so each AppTest run starts as a plain pages/ app
    that app.py switches over; the once-per-process rerun that does it in a real server would fall in whichever
    test ran first and change that test's widget identities between its runs (a submitted form then is lost).
    The real server's first request is tested in a browser (tests/e2e/test_navigation.py)."""
    from ui import state

    monkeypatch.setattr(state, "_navigation_fixed", True)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _model_cache_dir: Path) -> None:
    """Every test gets its own database and folders; nothing touches data/ in the repo."""
    monkeypatch.setenv("INSTRUCT_CURATOR_DB", str(tmp_path / "curator.duckdb"))
    monkeypatch.setenv("INSTRUCT_CURATOR_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("INSTRUCT_CURATOR_EXPORTS_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("INSTRUCT_CURATOR_SNAPSHOTS_DIR", str(tmp_path / "snapshots"))
    monkeypatch.setenv("INSTRUCT_CURATOR_SEED_SAMPLE", "0")
    monkeypatch.setenv("INSTRUCT_CURATOR_AUTHOR", "tester")
    monkeypatch.setenv("INSTRUCT_CURATOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("INSTRUCT_CURATOR_MODEL_CACHE_DIR", str(_model_cache_dir))
    monkeypatch.setenv("INSTRUCT_CURATOR_EMBEDDING_BACKEND", "torch")  # the ONNX export is tested on its own


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "test.duckdb")
    yield s
    s.close()


@pytest.fixture
def make_store(tmp_path: Path):
    """make_store(rows) -> Store holding `rows` (dicts with instruction/input/output/origin/... keys)."""
    opened: list[Store] = []

    def factory(rows: list[dict], source: str = "test", path: Path | None = None) -> Store:
        s = Store(path or tmp_path / f"store{len(opened)}.duckdb")
        opened.append(s)
        if rows:
            examples.add_examples(s, pd.DataFrame(rows), examples.SourceInfo(name=source, format="test"))
        return s

    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when this checkout has none beside it."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
