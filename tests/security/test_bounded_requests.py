"""A slow or huge answer cannot hang or swamp a run: --timeout bounds the whole request (a server trickling one byte
every 2 s is cut off), and an answer over the size cap fails that request after reading no more than the cap."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from curation.generate import openai_backend
from curation.generate.llm import LLMError
from curation.generate.openai_backend import OpenAIBackend

ROOT = Path(__file__).resolve().parents[2]


class RawServer:
    """A TCP server on 127.0.0.1 that answers every connection with `answer(conn)` in its own thread."""

    def __init__(self, answer) -> None:
        self.answer, self.stop = answer, threading.Event()
        self.sent: list[int] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed at the end of the test
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request (small enough to arrive in one read here)
                self.sent.append(self.answer(conn, self.stop))
            except OSError:
                self.sent.append(-1)


def trickle(conn: socket.socket, stop: threading.Event) -> int:
    """Headers at once, then a 1,000-byte body at one byte every 2 s (a per-read timeout never trips)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    sent = 0
    while sent < 1000 and not stop.wait(2.0):
        conn.sendall(b" ")
        sent += 1
    return sent


def endless(conn: socket.socket, stop: threading.Event) -> int:
    """A close-delimited body that would be 100 MB: the client must stop reading, not buffer it."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    sent, block = 0, b" " * 65536
    while sent < 100 * 1048576 and not stop.is_set():
        conn.sendall(block)
        sent += len(block)
    return sent


@pytest.fixture
def server(request) -> Iterator[RawServer]:
    srv = RawServer(request.param)
    yield srv
    srv.stop.set()
    srv.sock.close()


def _complete_in_thread(llm: OpenAIBackend, limit: float) -> tuple[BaseException | None, bool]:
    outcome: list[BaseException | None] = [None]

    def run() -> None:
        try:
            llm.complete("x", max_tokens=5, temperature=0, top_p=1)
        except BaseException as err:
            outcome[0] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    return outcome[0], thread.is_alive()


@pytest.mark.parametrize("server", [trickle], indirect=True)
def test_a_trickling_server_is_cut_off_at_the_timeout_of_the_whole_request(server: RawServer) -> None:
    llm = OpenAIBackend(server.url, "m", api_key_env="", timeout=3, max_retries=1, backoff=0.1, jitter=0)
    # Two attempts of at most 3 s each plus a 0.1 s backoff; a per-read timeout would run for 2,000 s.
    err, still_running = _complete_in_thread(llm, limit=20)
    assert not still_running, "the request outlived its timeout"
    assert isinstance(err, LLMError) and "after 2 attempts (timed out after 3 s)" in str(err), err


@pytest.mark.parametrize("server", [endless], indirect=True)
def test_an_answer_over_the_cap_fails_that_request_and_reading_stops(server: RawServer) -> None:
    llm = OpenAIBackend(server.url, "m", api_key_env="", timeout=30, max_retries=3, max_response_bytes=1048576)
    err, still_running = _complete_in_thread(llm, limit=30)
    assert not still_running
    assert isinstance(err, openai_backend.ResponseTooLarge), err
    assert "larger than 1 MB; refused (raise the INSTRUCT_CURATOR_LLM_MAX_RESPONSE_MB setting" in str(err)
    deadline = time.monotonic() + 10
    while not server.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.sent) == 1  # not retried
    assert server.sent[0] < 100 * 1048576  # the client hung up long before the server was done (-1: reset)


def test_the_cap_comes_from_the_setting(monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_LLM_MAX_RESPONSE_MB", "0.5")
    assert OpenAIBackend("http://127.0.0.1:1/v1", "m").max_response_bytes == 524288
    monkeypatch.delenv("INSTRUCT_CURATOR_LLM_MAX_RESPONSE_MB")
    assert OpenAIBackend("http://127.0.0.1:1/v1", "m").max_response_bytes == 4 * 1048576


@pytest.mark.parametrize("server", [trickle], indirect=True)
def test_generate_against_a_trickling_server_ends_on_its_own(server: RawServer, tmp_path: Path) -> None:
    env = os.environ | {"INSTRUCT_CURATOR_SEED_SAMPLE": "0", "CURATION_NO_PROGRESS": "1"}
    env.pop("INSTRUCT_CURATOR_USERS_FILE", None)
    cmd = [sys.executable, "-m", "curation", "--db", str(tmp_path / "g.duckdb"), "generate", "--backend", "openai"]
    cmd += ["--base-url", server.url, "--model", "m", "--api-key-env", "", "--timeout", "3", "--max-retries", "1"]
    cmd += ["--n", "1", "--concurrency", "2", "--prompt-batch", "2"]
    cmd += ["--seeds", str(ROOT / "data/sample/seed_tasks.jsonl")]
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("generate kept running past 90 s against a server trickling one byte every 2 s")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "timed out after 3 s" in done.stderr, done.stderr[-2000:]
