"""Give back the memory of closed browser tabs: a disconnected session that Streamlit drops is shut down.

Streamlit keeps a closed tab's session (session state, lazy table sources, uploaded files) for
`server.disconnectedSessionTTL` seconds so a dropped connection can resume it. Its storage drops an expired session
only on a later write (another tab disconnecting), and never calls `AppSession.shutdown()` on one it drops, so
uploaded files and lazy table sources registered under that session id stay forever, and after the last tab closes
every session stays in memory (streamlit/streamlit#12506; its fix, PR #12521, was closed unmerged). So the app wraps
the server's session storage once: a session it drops (expired, or over its 128-session limit) is shut down, and a
timer on Streamlit's event loop drops the expired ones every `REAP_SECONDS` even when no other tab disconnects.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import threading

from streamlit.runtime import Runtime
from streamlit.runtime.memory_session_storage import MemorySessionStorage
from streamlit.runtime.session_manager import SessionInfo, SessionStorage
from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

REAP_SECONDS = 30.0
_start_lock = threading.Lock()
log = logging.getLogger("instruct-curator")


class ClosingSessionStorage(SessionStorage):
    """Streamlit's in-memory session storage, except that every session it drops on its own is shut down."""

    def __init__(self, inner: MemorySessionStorage) -> None:
        self.inner = inner

    def get(self, session_id: str) -> SessionInfo | None:
        return self.inner.get(session_id)

    def save(self, session_info: SessionInfo) -> None:
        held = dict(self.inner._cache._data)  # expired entries too: a save may drop them
        self.inner.save(session_info)
        kept = self.inner._cache._data
        _shut_down([info for key, info in held.items() if key not in kept and key != session_info.session.id])

    def delete(self, session_id: str) -> None:  # a resumed or closed session: Streamlit handles it
        self.inner.delete(session_id)

    def list(self) -> list[SessionInfo]:
        return self.inner.list()

    def close_expired(self) -> int:
        """Drop the sessions whose TTL has passed and shut each down; returns how many."""
        expired = [info for _, info in self.inner._cache.expire()]
        _shut_down(expired)
        return len(expired)


def _shut_down(infos: list[SessionInfo]) -> None:
    for info in infos:
        info.session.shutdown()  # frees session state, lazy table sources, uploaded and media files
    if infos:
        log.info("closed %d browser session(s) disconnected longer than the TTL", len(infos))
        gc.collect()
        give_back_free_heap()


def give_back_free_heap() -> bool:
    """Ask glibc to return the free pages of its heaps to the system (malloc_trim), so that the memory of closed
    sessions shows up as a smaller RSS, not only as free space inside the process; False where there is no glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False


def closing_storage(manager: WebsocketSessionManager) -> ClosingSessionStorage | None:
    """Put a ClosingSessionStorage in front of the manager's in-memory storage (once); None for other storages."""
    with manager._storage_lock:
        storage = manager._session_storage
        if isinstance(storage, MemorySessionStorage):
            storage = manager._session_storage = ClosingSessionStorage(storage)
        return storage if isinstance(storage, ClosingSessionStorage) else None


def close_expired_sessions(manager: WebsocketSessionManager) -> int:
    """Shut down and drop the disconnected sessions past their TTL; call on the server's event loop."""
    storage = closing_storage(manager)
    if storage is None:
        return 0
    with manager._storage_lock:
        return storage.close_expired()


def reap_closed_sessions() -> None:
    """Once per server: wrap its session storage and start a timer on its event loop that closes expired sessions."""
    if not Runtime.exists():
        return
    runtime = Runtime.instance()
    manager = getattr(runtime, "_session_mgr", None)  # AppTest's mock runtime has none
    loop = getattr(getattr(runtime, "_async_objs", None), "eventloop", None)
    if not isinstance(manager, WebsocketSessionManager) or not isinstance(loop, asyncio.AbstractEventLoop):
        return
    with _start_lock:
        if isinstance(manager._session_storage, ClosingSessionStorage) or closing_storage(manager) is None:
            return

    def tick() -> None:
        try:
            close_expired_sessions(manager)
        except Exception:  # never let housekeeping stop the server; try again next time
            log.exception("closing expired sessions failed")
        loop.call_later(REAP_SECONDS, tick)

    loop.call_soon_threadsafe(loop.call_later, REAP_SECONDS, tick)
