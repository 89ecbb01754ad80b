"""The app process's single Store and JobRunner, opened once per database path."""

from __future__ import annotations

import atexit
import functools
import time

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from curation import config, identity
from curation.finetune import runner as finetune_runner
from curation.identity import User
from curation.io import sample_data
from curation.jobs import JobRunner
from curation.store import Store, StoreAccessError, StoreLockedError
from curation.team import accounts
from ui.feedback import show_refusal
from ui.text import inert


@st.cache_resource(show_spinner="Opening the database…")
def _open(path: str) -> tuple[Store, JobRunner]:
    store = Store(path)
    if config.get("seed_sample") == "1":
        sample_data.ensure_sample(store)
    runner = JobRunner(store)
    handlers = reattach_handlers(runner)
    runner.recover_orphans(handlers)
    # Ctrl-C / SIGTERM stop Streamlit's server and the interpreter exits normally, so atexit runs: thread jobs end
    # cancelled or failed with the reason, training (its own process) stays running for the next start to reattach.
    atexit.register(runner.shutdown, keep_kinds=tuple(handlers))
    return store, runner


def reattach_handlers(runner: JobRunner | None = None) -> dict:
    """Job kinds whose work outlives the app process (training) and can be taken over after a restart."""
    if runner is None:
        return {}
    return {finetune_runner.JOB_KIND: functools.partial(finetune_runner.reattach, runner=runner)}


def ensure_app_navigation() -> None:
    """Make a deep link opened first after a server start run app.py's st.navigation, not pages/ auto-discovery.

    Streamlit decides once per process, from the mere presence of pages/, to run a first request for /Browse as a
    plain multipage app (no sections, file-name titles); st.navigation only switches that off when app.py runs.
    Every page asks for the store first, so here we switch it off and rerun, which runs app.py for the same URL.
    app.py calls it first too, since its sign-in form stops before st.navigation. The rerun is needed once per
    process (the flag then stays off); AppTest sets the flag again on every run, and rerunning each time there
    would swallow a submitted form.
    """
    global _navigation_fixed
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not _navigation_fixed:
            _navigation_fixed = True
            st.rerun()


_navigation_fixed = False


def _opened() -> tuple[Store, JobRunner]:
    ensure_app_navigation()
    show_refusal()  # every page asks for the store first: a refused button shows here, at the top
    try:
        return _open(str(config.get_path("db")))
    except StoreLockedError as err:
        st.error(inert(f"{err}. Close the other process (a CLI command or another app) and reload."))
        st.stop()
    except StoreAccessError as err:  # a folder, not a DuckDB file, read-only, disk full: say so, no traceback
        st.error(inert(f"{err}. Fix it (or set INSTRUCT_CURATOR_DB) and reload."))
        st.stop()


def get_store() -> Store:
    """The app's store (the app process owns the DuckDB file)."""
    return _opened()[0]


def get_runner() -> JobRunner:
    """The app's job runner (background threads, persisted job rows)."""
    return _opened()[1]


def author() -> str:
    """The signed-in user (login on), else the `author` setting."""
    return config.get("author")


SESSION_KEY = "auth_user"
ANONYMOUS = User("anonymous", "viewer")


def _session_user() -> User | None:
    """The signed-in user of this session's script run; with login on and nobody signed in, a viewer."""
    if not accounts.auth_enabled() or get_script_run_ctx(suppress_warning=True) is None:
        return None
    entry = st.session_state.get(SESSION_KEY)
    if not entry or expired(entry):  # checked here too: button callbacks run before app.py's sign-in gate
        return ANONYMOUS
    try:
        account = accounts.current_accounts().get(entry["name"])
    except ValueError:  # a broken users file grants nothing
        return ANONYMOUS
    return account.user if account else ANONYMOUS  # the role in the users file now, not the one at sign-in


def expired(entry: dict, now: float | None = None) -> bool:
    """Whether a sign-in is older than the `session_minutes` setting."""
    return (now or time.time()) - entry["at"] > 60 * float(config.get("session_minutes"))


# Every page imports this module, so no page (even one run on its own) acts without the session's user.
identity.set_provider(_session_user)
