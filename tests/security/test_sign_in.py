"""Sign-in under attack: parallel guesses cannot outrun the lock-out, unknown names take as long as known ones,
user names with control characters are refused and shown escaped, the users file cache follows its content,
and an identity provider's address counts only when verified."""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

import bcrypt
import pytest
import yaml
from typer.testing import CliRunner

from curation import cli
from curation.store import Store
from curation.store import team as team_store
from curation.team import accounts

PASSWORD = "correct horse"


def write_users(path: Path, roles: dict[str, str], rounds: int = 4) -> Path:
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    path.write_text(yaml.safe_dump({"users": {n: {"role": r, "password_hash": digest} for n, r in roles.items()}}))
    path.chmod(0o600)
    return path


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "auth.duckdb")
    yield s
    s.close()


def test_forty_parallel_attempts_run_at_most_threshold_checks_and_the_right_one_cannot_unlock(
    store, tmp_path, monkeypatch
) -> None:
    users = accounts.load_accounts(write_users(tmp_path / "users.yaml", {"adm": "admin"}, rounds=6))
    checks = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, digest: bytes) -> bool:
        checks.append(password)
        time.sleep(0.05)  # a slow hash: the other threads reach the count meanwhile
        return real_checkpw(password, digest)

    monkeypatch.setattr(accounts.bcrypt, "checkpw", counting_checkpw)
    passwords = [f"wrong {i}" for i in range(39)]
    passwords.insert(20, PASSWORD)
    barrier = threading.Barrier(len(passwords))
    outcomes: list[str] = [""] * len(passwords)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            accounts.sign_in(store, users, "adm", passwords[i])
            outcomes[i] = "ok"
        except accounts.SignInError as err:
            outcomes[i] = str(err)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(passwords))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(checks) <= accounts.MAX_FAILURES
    assert "ok" not in outcomes  # the right password among 39 wrong ones does not get in during the burst
    assert sum("too many failed sign-ins" in o for o in outcomes) >= len(passwords) - accounts.MAX_FAILURES
    with pytest.raises(accounts.SignInError, match="too many failed sign-ins"):
        accounts.sign_in(store, users, "adm", PASSWORD)  # and the name stays locked afterwards
    assert len(team_store.login_log(store, 100)) == len(passwords) + 1


def test_four_failures_then_the_right_password_still_signs_in(store, tmp_path) -> None:
    users = accounts.load_accounts(write_users(tmp_path / "users.yaml", {"adm": "admin"}))
    for _ in range(accounts.MAX_FAILURES - 1):
        with pytest.raises(accounts.SignInError, match="wrong user name or password"):
            accounts.sign_in(store, users, "adm", "nope")
    assert accounts.sign_in(store, users, "adm", PASSWORD).role == "admin"
    assert team_store.recent_failures(store, "adm", accounts.FAILURE_WINDOW_S) == 0


def _wrong_password_seconds(store, users, name: str, guess: str) -> float:
    start = time.perf_counter()
    with pytest.raises(accounts.SignInError):
        accounts.sign_in(store, users, name, guess)
    return time.perf_counter() - start


def test_an_unknown_name_takes_about_as_long_as_a_known_one(store, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(accounts, "MAX_FAILURES", 100)
    users = accounts.load_accounts(write_users(tmp_path / "users.yaml", {"adm": "admin"}, rounds=10))
    _wrong_password_seconds(store, users, "nobody-here", "warm-up")  # the dummy hash is made once
    known, unknown = [], []
    for i in range(7):  # interleaved, so a busy machine slows both alike
        known.append(_wrong_password_seconds(store, users, "adm", f"guess {i}"))
        unknown.append(_wrong_password_seconds(store, users, "nobody-here", f"guess {i}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 <= ratio <= 2.0, (known, unknown)


def test_user_names_with_control_characters_are_refused_in_the_file(tmp_path) -> None:
    path = tmp_path / "users.yaml"
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(yaml.safe_dump({"users": {"ok": {"role": "viewer", "password_hash": digest},
                                              "ev\nil": {"role": "admin", "password_hash": digest}}}))  # fmt: skip
    path.chmod(0o600)
    with pytest.raises(ValueError, match=r"user 'ev\\nil': a user name must be non-empty, without control"):
        accounts.load_accounts(path)


def test_a_typed_name_with_a_newline_never_prints_as_a_fake_log_row(store, tmp_path, monkeypatch) -> None:
    users_file = write_users(tmp_path / "users.yaml", {"adm": "admin"})
    users = accounts.load_accounts(users_file)
    fake = "x\n2026-01-01 00:00:00  adm  True  password"
    with pytest.raises(accounts.SignInError):
        accounts.sign_in(store, users, fake, "whatever")
    db = store.path
    store.close()
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(users_file))
    result = CliRunner().invoke(cli.app, ["--db", str(db), "--user", "adm", "users", "log"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2, lines  # the header and one row
    assert "x\\n2026-01-01" in lines[1]


def test_the_users_file_cache_follows_the_content_not_the_modification_time(tmp_path, monkeypatch) -> None:
    path = write_users(tmp_path / "users.yaml", {"bob": "viewer"})
    monkeypatch.setenv("INSTRUCT_CURATOR_USERS_FILE", str(path))
    assert accounts.current_accounts()["bob"].role == "viewer"
    stamp = path.stat()
    write_users(path, {"bob": "admin"})
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # as `cp -p` or an edit within the same tick
    assert accounts.current_accounts()["bob"].role == "admin"


def test_a_users_file_others_may_write_is_refused(tmp_path) -> None:
    path = write_users(tmp_path / "users.yaml", {"bob": "viewer"})
    path.chmod(0o664)
    with pytest.raises(ValueError, match=r"writable by group or others \(mode 664\).*chmod 600"):
        accounts.load_accounts(path)
    path.chmod(0o644)
    assert accounts.load_accounts(path)["bob"].role == "viewer"


@pytest.mark.parametrize(
    ("claims", "matched"),
    [
        ({"email": "Bob@Example.org", "email_verified": True}, True),
        ({"email": "bob@example.org", "email_verified": False}, False),
        ({"email": "bob@example.org"}, False),
    ],
)
def test_oidc_sign_in_needs_a_verified_address(claims, matched) -> None:
    users = {"bob": accounts.Account("bob", "curator", "", email="bob@example.org")}
    found = accounts.account_for_identity(users, claims)
    assert (found is not None and found.username == "bob") == matched
