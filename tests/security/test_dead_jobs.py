"""A generation run killed with kill -9 does not stay "running" for the CLI: its process is gone, so `jobs list`
shows it failed, `jobs cancel` says so, and `generate --resume` continues it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from curation import cli
from curation.jobs import JobRunner
from curation.store import Store, jobs_table

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "data/sample/seed_tasks.jsonl"


def test_a_job_whose_process_is_gone_is_failed_on_lookup_and_a_live_one_is_not(tmp_path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with Store(tmp_path / "j.duckdb") as store:
        dead = jobs_table.create(store, "generate")
        jobs_table.mark_running(store, dead)
        store.execute("UPDATE jobs SET owner_pid = ? WHERE id = ?", [gone.pid, dead])
        reused = jobs_table.create(store, "generate")  # our own pid, but another process start time: a reused pid
        jobs_table.mark_running(store, reused)
        store.execute("UPDATE jobs SET owner_started = owner_started - 1 WHERE id = ?", [reused])
        live = jobs_table.create(store, "generate")
        jobs_table.mark_running(store, live)
        assert jobs_table.get(store, dead)["status"] == "failed"
        assert f"interrupted: its process (pid {gone.pid}) is gone" == jobs_table.get(store, dead)["error"]
        assert jobs_table.get(store, reused)["status"] == "failed"
        assert jobs_table.get(store, live)["status"] == "running"
        assert [j["id"] for j in jobs_table.unfinished(store)] == [live]


def _silent_server() -> tuple[socket.socket, threading.Event]:
    """Accepts connections and never answers: a generate run against it waits until killed."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    got_request, held = threading.Event(), []

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            got_request.set()

    threading.Thread(target=serve, daemon=True).start()
    return sock, got_request


def test_generate_killed_with_sigkill_can_be_cancelled_and_resumed_from_the_cli(tmp_path) -> None:
    db = tmp_path / "gen.duckdb"
    env = os.environ | {"INSTRUCT_CURATOR_SEED_SAMPLE": "0", "CURATION_NO_PROGRESS": "1"}
    env.pop("INSTRUCT_CURATOR_USERS_FILE", None)
    sock, got_request = _silent_server()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    cmd = [sys.executable, "-m", "curation", "--db", str(db), "generate", "--backend", "openai", "--base-url", url]
    cmd += ["--model", "m", "--api-key-env", "", "--timeout", "300", "--n", "2", "--seeds", str(SEEDS)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert got_request.wait(90), "generate never sent a request"
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        sock.close()
    runner = CliRunner()
    with Store(db) as store:  # what the killed process left behind, as it left it
        row = store.query_dicts("SELECT id, status FROM jobs WHERE kind = 'selfinstruct'")[0]
    assert row["status"] == "running"
    job_id = str(row["id"])
    cancel = runner.invoke(cli.app, ["--db", str(db), "jobs", "cancel", job_id])
    assert cancel.exit_code == 0, cancel.output
    assert f"job {job_id} had already finished (failed: interrupted: its process (pid {proc.pid}) is gone)" in (
        cancel.output
    )
    resumed = runner.invoke(cli.app, ["--db", str(db), "generate", "--resume", job_id, "--backend", "fake", "--n", "2"])
    assert resumed.exit_code == 0, resumed.output
    assert "kept 2 instructions" in resumed.output
    with Store(db) as store:
        assert not jobs_table.unfinished(store)
        assert JobRunner(store).recover_orphans() == []
