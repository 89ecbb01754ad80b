"""With a users file set, an OpenAI-compatible backend only starts for an (API-key variable, base URL) pair on the
admin's list: in the CLI (generate, rate run, evolve), in make_llm, and on the Generate page (no free text)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import bcrypt
import pytest
import yaml
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from curation import cli
from curation.generate import endpoints
from curation.generate.llm import make_llm
from curation.store import Store

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "data/sample/seed_tasks.jsonl"
runner = CliRunner()


class Listener:
    """Counts connections on 127.0.0.1 (a request that gets this far has already left with the key)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    digest = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4)).decode()
    users = tmp_path / "users.yaml"
    roles = {"cur": "curator", "adm": "admin"}
    users.write_text(yaml.safe_dump({"users": {n: {"role": r, "password_hash": digest} for n, r in roles.items()}}))
    users.chmod(0o600)
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(users))
    monkeypatch.setenv("SUPER_SECRET", "do-not-send")
    monkeypatch.delenv("INSTRUCT_CURATOR_LLM_ENDPOINTS", raising=False)
    listener = Listener()
    yield {"db": tmp_path / "team.duckdb", "listener": listener}
    listener.sock.close()


def cli_as(team, user: str, *args: str):
    return runner.invoke(cli.app, ["--db", str(team["db"]), "--user", user, *args])


OPENAI = ["--backend", "openai", "--model", "m", "--api-key-env", "SUPER_SECRET"]


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "--n", "1", "--seeds", str(SEEDS), "--max-retries", "0"],
        ["rate", "run", "--status", "pending"],
        ["evolve", "--status", "pending"],
    ],
    ids=["generate", "rate", "evolve"],
)
def test_the_cli_refuses_an_unlisted_key_variable_and_host(team, command) -> None:
    result = cli_as(team, "cur", *command, *OPENAI, "--base-url", team["listener"].url)
    assert result.exit_code == 1, result.output
    assert "key variable 'SUPER_SECRET' may not be sent to http://127.0.0.1:" in result.output
    assert "not in the admin's endpoint list" in result.output
    time.sleep(0.3)
    assert team["listener"].connections == 0


def test_admins_edit_the_list_and_curators_may_use_what_is_on_it(team) -> None:
    url = team["listener"].url
    refused = cli_as(team, "cur", "endpoints", "add", "SUPER_SECRET", url)
    assert refused.exit_code == 1 and "needs the admin role" in refused.output
    added = cli_as(team, "adm", "endpoints", "add", "SUPER_SECRET", url + "/")
    assert added.exit_code == 0, added.output
    listed = cli_as(team, "cur", "endpoints", "list")
    assert url in listed.output and "SUPER_SECRET" in listed.output and "added by adm" in listed.output
    with Store(team["db"]) as store:
        allowed = endpoints.allowed(store)
    assert make_llm("openai", allowed=allowed, base_url=url, model="m", api_key_env="SUPER_SECRET").base_url == url
    with pytest.raises(endpoints.EndpointNotAllowed):  # the same host with another variable
        make_llm("openai", allowed=allowed, base_url=url, model="m", api_key_env="OTHER_SECRET")
    with pytest.raises(endpoints.EndpointNotAllowed):  # no list handed over at all
        make_llm("openai", base_url=url, model="m", api_key_env="SUPER_SECRET")
    removed = cli_as(team, "adm", "endpoints", "remove", "SUPER_SECRET", url)
    assert removed.exit_code == 0, removed.output
    with Store(team["db"]) as store:
        assert endpoints.allowed(store) == []


def test_the_setting_lists_endpoints_too_and_login_off_allows_any(monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", "/somewhere/users.yaml")
    monkeypatch.setenv(
        "INSTRUCT_CURATOR_LLM_ENDPOINTS", "OPENAI_API_KEY=https://api.example.com/v1/ =http://127.0.0.1:8000/v1"
    )
    listed = endpoints.from_setting(endpoints.config.get("llm_endpoints"))
    assert listed == [
        endpoints.Endpoint("OPENAI_API_KEY", "https://api.example.com/v1"),
        endpoints.Endpoint("", "http://127.0.0.1:8000/v1"),
    ]
    endpoints.check(listed, "", "http://127.0.0.1:8000/v1/")
    with pytest.raises(endpoints.EndpointNotAllowed):
        endpoints.check(listed, "OPENAI_API_KEY", "http://127.0.0.1:8000/v1")
    monkeypatch.delenv("INSTRUCT_CURATOR_USERS_FILE")
    endpoints.check(None, "SUPER_SECRET", "http://anywhere.example/v1")


def test_the_generate_page_offers_only_the_admins_endpoints(team, monkeypatch) -> None:
    from ui.state import SESSION_KEY

    monkeypatch.setenv("INSTRUCT_CURATOR_DB", str(team["db"]))
    monkeypatch.setenv("INSTRUCT_CURATOR_LLM_ENDPOINTS", f"SUPER_SECRET={team['listener'].url}")
    at = AppTest.from_file(str(ROOT / "pages" / "6_Generate.py"), default_timeout=60)
    at.session_state[SESSION_KEY] = {"name": "cur", "role": "curator", "at": time.time()}
    at.run()
    at.radio(key="gen_backend").set_value("openai").run()
    assert not at.exception, at.exception
    keys = {w.key for w in at.text_input}
    assert "gen_base_url" not in keys and "gen_key_env" not in keys
    assert not [c for c in at.caption if "Key variable is" in c.value]
    choice = at.selectbox(key="gen_endpoint")
    assert [o for o in choice.options] == [f"{team['listener'].url} (key: SUPER_SECRET)"]
