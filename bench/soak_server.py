"""`streamlit run` in this process, plus a thread that appends the server's memory figures to a JSON Lines file.

    SOAK_STATS=stats.jsonl python bench/soak_server.py run app.py [streamlit options]

Used by soak_bench.py: RSS alone cannot show whether closed sessions were freed (the allocator keeps pages), so each
line also counts what Python still holds after a full collection: live AppSession objects, sessions the server
keeps (active, and disconnected but resumable), lazy table sources, pandas DataFrames, threads and allocated blocks.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil


def _count(type_name: str, objects: list) -> int:
    return sum(1 for o in objects if type(o).__name__ == type_name)


def sample() -> dict:
    """The server's memory figures now (after gc.collect, so only what is really still referenced)."""
    from streamlit.runtime import Runtime

    gc.collect()
    objects = gc.get_objects()
    figures = {
        "t": round(time.time(), 1),
        "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        "allocated_blocks": sys.getallocatedblocks(),
        "app_session_objects": _count("AppSession", objects),
        "dataframes": sum(1 for o in objects if isinstance(o, pd.DataFrame)),
        "threads": threading.active_count(),
    }
    del objects
    if Runtime.exists():
        runtime = Runtime.instance()
        manager = runtime._session_mgr
        figures["sessions_active"] = len(manager.list_active_sessions())
        storage = getattr(manager._session_storage, "inner", manager._session_storage)  # ui/sessions.py wraps it
        figures["sessions_kept_disconnected"] = len(storage._cache._data)  # expired ones too
        figures["lazy_table_sources"] = runtime.dataframe_source_mgr.get_source_count()
    return figures


def _report(path: Path, every: float) -> None:
    while True:
        time.sleep(every)
        try:
            line = json.dumps(sample())
        except Exception as err:  # the server is starting or stopping
            line = json.dumps({"t": time.time(), "error": repr(err)})
        with path.open("a") as out:
            out.write(line + "\n")


def main() -> None:
    path = Path(os.environ["SOAK_STATS"])
    every = float(os.environ.get("SOAK_STATS_SECONDS", "15"))
    threading.Thread(target=_report, args=(path, every), name="soak-stats", daemon=True).start()
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_main()


if __name__ == "__main__":
    main()
