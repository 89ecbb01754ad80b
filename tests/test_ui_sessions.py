"""Closed tabs give their memory back: expired disconnected sessions are shut down and dropped (Streamlit's own
storage keeps them until some later disconnect and never shuts them down)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.runtime import Runtime
from streamlit.runtime.memory_session_storage import MemorySessionStorage
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.runtime.session_manager import SessionInfo
from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

from ui import sessions


class ClosedTab:
    """The parts of an AppSession that the session storage and its shutdown touch."""

    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.shut_down = threading.Event()

    def shutdown(self) -> None:
        self.shut_down.set()


def manager_keeping(tabs: list[ClosedTab], ttl_seconds: float) -> WebsocketSessionManager:
    """A real session manager whose storage holds `tabs` as disconnected sessions (as a closed browser tab leaves)."""
    storage = MemorySessionStorage(ttl_seconds=ttl_seconds)
    manager = WebsocketSessionManager(storage, MemoryUploadedFileManager("/upload"), ScriptCache(), None)
    for tab in tabs:
        storage.save(SessionInfo(client=None, session=tab))
    return manager


def kept(manager: WebsocketSessionManager) -> int:
    storage = manager._session_storage
    return len(getattr(storage, "inner", storage)._cache._data)  # what Python still holds, expired or not


def test_streamlit_alone_keeps_expired_sessions_or_drops_them_without_shutdown() -> None:
    first, second = ClosedTab("first"), ClosedTab("second")
    manager = manager_keeping([first], ttl_seconds=0)
    assert manager.list_sessions() == []  # expired: not resumable any more...
    assert kept(manager) == 1  # ...but still held
    manager._session_storage.save(SessionInfo(client=None, session=second))  # another tab closes
    assert kept(manager) == 1  # the first is dropped now, but never shut down (its files and sources stay)
    assert not first.shut_down.is_set()


def test_an_expired_session_is_shut_down_and_dropped_without_another_disconnect() -> None:
    tab = ClosedTab("last")
    manager = manager_keeping([tab], ttl_seconds=0)
    assert sessions.close_expired_sessions(manager) == 1
    assert kept(manager) == 0
    assert tab.shut_down.is_set()


def test_a_session_dropped_when_another_tab_closes_is_shut_down() -> None:
    first, second = ClosedTab("first"), ClosedTab("second")
    manager = manager_keeping([first], ttl_seconds=0)
    assert sessions.closing_storage(manager) is not None
    manager._session_storage.save(SessionInfo(client=None, session=second))  # as disconnect_session does
    assert first.shut_down.is_set() and not second.shut_down.is_set()


def test_sessions_within_their_ttl_stay_resumable() -> None:
    tab = ClosedTab("recent")
    manager = manager_keeping([tab], ttl_seconds=3600)
    assert sessions.close_expired_sessions(manager) == 0
    assert [info.session.id for info in manager.list_sessions()] == ["recent"]
    assert not tab.shut_down.is_set()
    manager._session_storage.delete("recent")  # the tab reconnected: Streamlit resumes it, nothing is shut down
    assert not tab.shut_down.is_set()


def test_the_server_reaps_on_its_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    tab = ClosedTab("closed")
    manager = manager_keeping([tab], ttl_seconds=0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = SimpleNamespace(_session_mgr=manager, _async_objs=SimpleNamespace(eventloop=loop))
    monkeypatch.setattr(Runtime, "_instance", server)
    monkeypatch.setattr(sessions, "REAP_SECONDS", 0.01)
    try:
        sessions.reap_closed_sessions()
        sessions.reap_closed_sessions()  # every script run calls it; the storage is wrapped once
        assert isinstance(manager._session_storage.inner, MemorySessionStorage)
        assert tab.shut_down.wait(30), "the closed tab's session was never shut down"
        assert kept(manager) == 0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_freed_memory_is_given_back_to_the_system() -> None:
    """Objects freed among a few survivors leave the heap's pages in the process (RSS stays up) until
    give_back_free_heap, which the reaper calls after shutting sessions down."""
    import gc

    def rss_mb() -> int:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) // 1024

    blocks = [bytearray(2000) for _ in range(150_000)]  # ~300 MB of malloc'd blocks
    survivors = blocks[::64]  # one in 64 stays, as long-lived objects do between freed ones
    del blocks
    gc.collect()
    before = rss_mb()
    if not sessions.give_back_free_heap():
        pytest.skip("no glibc malloc_trim here")
    assert before - rss_mb() > 150, (before, rss_mb())
    assert len(survivors) == 2344
