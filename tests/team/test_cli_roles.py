"""CLI roles: with a users file, every mutating command checks the acting user's role; viewers change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import bcrypt
import pytest
import yaml
from typer.testing import CliRunner

from curation import cli
from curation.generate import templates
from curation.store import Store, examples, revisions
from curation.store import team as team_store

runner = CliRunner()
COT = "Tom has 3 * 4 = 12 apples. He eats 2, so 12 - 2 = 10 remain. So the answer is 10."


def write_users(path: Path) -> Path:
    digest = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4)).decode()
    users = {
        name: {"role": role, "password_hash": digest}
        for name, role in [("vic", "viewer"), ("ann", "annotator"), ("cur", "curator"), ("adm", "admin")]
    }
    path.write_text(yaml.safe_dump({"users": users}))
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(write_users(tmp_path / "users.yaml")))
    db = tmp_path / "cli.duckdb"
    store = Store(db)
    rows = [{"instruction": f"Question {i}?", "output": COT if i % 2 else f"Plain {i}."} for i in range(6)]
    import pandas as pd

    examples.add_examples(store, pd.DataFrame(rows), examples.SourceInfo(name="seed", format="test"))
    templates.ensure_builtin_tasks(store)
    store.close()
    data = tmp_path / "more.jsonl"
    data.write_text(json.dumps({"instruction": "New one", "output": "x"}) + "\n")
    mix = tmp_path / "mix.yaml"
    mix.write_text("name: m\ngroup_by: source\n")
    return {"db": db, "tmp": tmp_path, "data": data, "mix": mix}


def invoke(env, user: str | None, *args: str):
    prefix = ["--db", str(env["db"])] + (["--user", user] if user else [])
    return runner.invoke(cli.app, [*prefix, *args])


MUTATING = [
    ("import", lambda e: ["import", str(e["data"])]),
    ("export", lambda e: ["export", "--status", "all", "--out", str(e["tmp"] / "out.json")]),
    ("cot tag", lambda e: ["cot", "tag"]),
    ("cot set", lambda e: ["cot", "set", "1", "2"]),
    ("dedup rouge", lambda e: ["dedup", "rouge", "--threshold", "0.7"]),
    ("template add", lambda e: ["template", "add", "sentiment", "--input", "Text: {text}"]),
    ("template delete", lambda e: ["template", "delete", "sentiment/1"]),
    ("mix export", lambda e: ["mix", "export", "--config", str(e["mix"]), "--out", str(e["tmp"] / "snaps")]),
    ("generate", lambda e: ["generate", "--backend", "fake", "--n", "1"]),
    ("campaign create", lambda e: ["campaign", "create", "c1", "-a", "ann"]),
    ("users log", lambda e: ["users", "log"]),
]


def _state(db: Path) -> tuple:
    store = Store(db)
    try:
        return (
            examples.count(store),
            len(revisions.list_actions(store, None, 1000)),
            len(team_store.list_campaigns(store)),
            store.query_value("SELECT count(*) FROM templates"),
        )
    finally:
        store.close()


@pytest.mark.parametrize(("name", "args"), MUTATING, ids=[m[0] for m in MUTATING])
def test_viewer_is_refused_every_mutating_command_and_nothing_changes(env, name, args) -> None:
    before = _state(env["db"])
    result = invoke(env, "vic", *args(env))
    assert result.exit_code == 1, result.output
    assert "vic (viewer) may not" in result.output
    assert _state(env["db"]) == before
    assert not (env["tmp"] / "out.json").exists()


def test_the_cli_needs_a_known_user_when_login_is_on(env) -> None:
    assert "pass --user" in invoke(env, None, "stats").output
    assert "no user 'zed'" in invoke(env, "zed", "stats").output
    assert invoke(env, "vic", "stats").exit_code == 0  # reading is open to every role


def test_campaign_flow_from_the_cli_records_the_real_users(env) -> None:
    created = invoke(env, "cur", "campaign", "create", "round", "-a", "ann", "-a", "adm", "-k", "2")
    assert created.exit_code == 0, created.output
    assert invoke(env, "ann", "campaign", "respond", "1", "1", "approved").exit_code == 0
    assert invoke(env, "adm", "campaign", "respond", "1", "1", "approved").exit_code == 0
    refused = invoke(env, "ann", "campaign", "resolve", "1")
    assert refused.exit_code == 1 and "needs the curator role" in refused.output
    resolved = invoke(env, "cur", "campaign", "resolve", "1", "--rule", "unanimous")
    assert "resolved 1 rows" in resolved.output, resolved.output
    store = Store(env["db"])
    try:
        assert examples.get(store, 1)["status"] == "approved"
        actions = revisions.list_actions(store, ["campaign-resolve"], 5)
        assert actions.author.tolist() == ["cur"]
        assert team_store.latest_responses(store, 1).annotator.tolist() == ["adm", "ann"]
    finally:
        store.close()
    shown = invoke(env, "vic", "campaign", "show", "1")
    assert "Fleiss' kappa" in shown.output and "disagreements (0)" in shown.output


def test_serve_refuses_an_open_address_without_login(monkeypatch) -> None:
    monkeypatch.delenv("INSTRUCT_CURATOR_USERS_FILE", raising=False)
    result = runner.invoke(cli.app, ["serve", "--address", "0.0.0.0"])
    assert result.exit_code == 1 and "refusing to listen on 0.0.0.0 with login off" in result.output
