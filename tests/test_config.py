"""Settings: a value scoped to one block of one thread (one job's choice) is invisible to every other thread."""

from __future__ import annotations

import threading

import pytest

from curation import config


def test_a_scoped_setting_is_seen_only_by_its_own_thread_and_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_RAY_ADDRESS", "ray://head:10001")
    seen_elsewhere: list[str] = []
    inside = threading.Event()
    checked = threading.Event()

    def other_thread() -> None:
        inside.wait(5)
        seen_elsewhere.append(config.get("ray_address"))
        checked.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with config.scoped({"ray_address": "", "embedding_search": None}):
        assert config.get("ray_address") == ""  # '' is a value (this process), not "leave as is"
        assert config.get("embedding_search") == "auto"  # None leaves a setting as it is
        with config.scoped({"ray_address": "local"}):
            assert config.get("ray_address") == "local"
        assert config.get("ray_address") == ""
        inside.set()
        checked.wait(5)
    thread.join(5)
    assert seen_elsewhere == ["ray://head:10001"]
    assert config.get("ray_address") == "ray://head:10001"
