"""Give back the memory of closed browser tabs: shut down disconnected sessions once they expire.

Streamlit keeps a closed tab's session (session state, lazy table sources, uploaded files) for
`server.disconnectedSessionTTL` seconds so a dropped connection can resume it. But its storage only drops an expired
session on a later write (another tab disconnecting), and even then never calls `AppSession.shutdown()`, so after the
last tab closes everything stays in memory (streamlit/streamlit#12506; the fix, PR #12521, was closed unmerged).
`close_expired_sessions` does what that PR did, on Streamlit's event loop, every `REAP_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from streamlit.runtime import Runtime
from streamlit.runtime.memory_session_storage import MemorySessionStorage
from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

REAP_SECONDS = 30.0
_started_for: set[int] = set()  # ids of the event loops already reaping (one chain per server)
_start_lock = threading.Lock()
log = logging.getLogger("instruct-curator")


def _session_manager(runtime: object) -> WebsocketSessionManager | None:
    manager = getattr(runtime, "_session_mgr", None)  # AppTest's mock runtime has none
    return manager if isinstance(manager, WebsocketSessionManager) else None


def close_expired_sessions(manager: WebsocketSessionManager) -> int:
    """Remove the disconnected sessions whose TTL has passed and shut each down; returns how many.

    Call on the server's event loop (as Streamlit's own disconnect handling does).
    """
    storage = manager._session_storage
    if not isinstance(storage, MemorySessionStorage):  # another storage manages its own expiry
        return 0
    with manager._storage_lock:
        expired = storage._cache.expire()
    for _, info in expired:
        info.session.shutdown()  # frees session state, lazy table sources, uploaded and media files
    if expired:
        log.info("closed %d browser session(s) disconnected longer than the TTL", len(expired))
    return len(expired)


def reap_closed_sessions() -> None:
    """Start, once per server, a timer on Streamlit's event loop that closes expired disconnected sessions."""
    if not Runtime.exists():
        return
    runtime = Runtime.instance()
    manager = _session_manager(runtime)
    loop = getattr(getattr(runtime, "_async_objs", None), "eventloop", None)
    if manager is None or not isinstance(loop, asyncio.AbstractEventLoop):
        return
    with _start_lock:
        if id(loop) in _started_for:
            return
        _started_for.add(id(loop))

    def tick() -> None:
        try:
            close_expired_sessions(manager)
        except Exception:  # never let housekeeping stop the server; try again next time
            log.exception("closing expired sessions failed")
        loop.call_later(REAP_SECONDS, tick)

    loop.call_soon_threadsafe(loop.call_later, REAP_SECONDS, tick)
