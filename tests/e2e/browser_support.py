"""Start `streamlit run app.py` on a free port over a given database, and a headless system Chromium to drive it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs the system chromium at /usr/bin/chromium (CI installs it)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout} s:\n{log.read_text()[-2000:]}")


def sample_db(path: Path) -> Path:
    """A new database at `path` holding the packaged sample rows (the state every browser test starts from)."""
    from curation.io import sample_data
    from curation.store import Store

    store = Store(path)
    try:
        sample_data.load_sample(store)
    finally:
        store.close()
    return path


def app_env(tmp_path: Path, db: Path) -> dict[str, str]:
    return os.environ | {
        "INSTRUCT_CURATOR_DB": str(db),
        "INSTRUCT_CURATOR_AUTHOR": "browser",
        "INSTRUCT_CURATOR_EXPORTS_DIR": str(tmp_path / "exports"),
        "INSTRUCT_CURATOR_SNAPSHOTS_DIR": str(tmp_path / "snapshots"),
        "INSTRUCT_CURATOR_RUNS_DIR": str(tmp_path / "runs"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


@contextlib.contextmanager
def running_app(
    tmp_path: Path,
    env: dict[str, str],
    launcher: Sequence[str] = ("-m", "streamlit"),
    options: Sequence[str] = (),
    *,
    fake_trainer: bool = False,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A fresh server (nobody has opened any page yet); yields its base URL and process, kills it at the end.

    `launcher` runs Streamlit's CLI (bench/soak_server.py wraps it); `options` are more `--server.x value` pairs;
    `fake_trainer`: training runs launched from the page start tests/fake_trainer.py instead of the real trainer.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if fake_trainer:  # the launcher imports curation before streamlit puts the app's folder on sys.path
        launcher = [str(Path(__file__).with_name("serve_with_fake_trainer.py"))]
        env = env | {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)}
    command = [sys.executable, *launcher, "run", "app.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    command += list(options)
    log = tmp_path / "streamlit.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_healthy(url, server, log)
        yield url, server
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=30)


@contextlib.contextmanager
def browser_page(width: int = 1366, height: int = 768) -> Iterator[object]:
    """A Playwright page in the system Chromium at a laptop-sized viewport."""
    api = pytest.importorskip("playwright.sync_api")
    with api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def settle(page, timeout: float = 60_000) -> None:
    """Wait until no script run is in progress, so stale widgets of the previous run are gone."""
    expect = pytest.importorskip("playwright.sync_api").expect
    page.wait_for_timeout(1000)  # a click's rerun may not have begun yet
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout)
