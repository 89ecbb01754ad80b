"""A real `streamlit run app.py --server.address ""`: Streamlit then listens on every interface, so with login off
the app must refuse to serve (unless started with --allow-open), not read the empty address as localhost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from curation.team import accounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from browser_support import CHROMIUM, app_env, browser_page, free_port, sample_db, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
REFUSED = "Login is off, so this app only serves localhost"


@pytest.mark.parametrize(
    ("address", "local"),
    [("", False), (None, False), ("  ", False), ("0.0.0.0", False), ("::", False), ("10.1.2.3", False),
     ("127.0.0.1", True), ("::1", True), ("localhost", True), ("unix:///tmp/app.sock", True)],
)  # fmt: skip
def test_only_a_loopback_bind_address_counts_as_local(address, local) -> None:
    assert accounts.serves_locally_only(address) is local


def _listening_addresses(pid: int, port: int) -> set[str]:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    found = (c for p in procs for c in p.net_connections("tcp"))
    return {c.laddr.ip for c in found if c.status == "LISTEN" and c.laddr.port == port}


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium at /usr/bin/chromium (CI installs it)")
@pytest.mark.parametrize("allow_open", [False, True])
def test_an_empty_server_address_serves_every_interface_so_login_off_is_refused(tmp_path, allow_open) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    env = app_env(tmp_path, sample_db(tmp_path / "open.duckdb"))
    env.pop("INSTRUCT_CURATOR_USERS_FILE", None)
    env.pop("INSTRUCT_CURATOR_ALLOW_OPEN", None)
    if allow_open:
        env["INSTRUCT_CURATOR_ALLOW_OPEN"] = "1"
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address", ""]
    command += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    log = tmp_path / "streamlit.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, log)
        bound = _listening_addresses(server.pid, port)
        assert bound and not any(accounts.serves_locally_only(a) for a in bound), bound  # every interface
        with browser_page() as page:
            page.goto(url)
            if allow_open:
                expect(page.get_by_text("Overview", exact=True).first).to_be_visible(timeout=60_000)
                expect(page.get_by_text(REFUSED)).to_have_count(0)
            else:
                expect(page.get_by_text(REFUSED)).to_be_visible(timeout=60_000)
                expect(page.get_by_text("Recent changes")).to_have_count(0)
    finally:
        server.kill()
        server.wait(timeout=30)
    assert ("refusing a non-local address" in log.read_text()) is not allow_open
