"""Local accounts in a YAML file the admin edits (bcrypt password hashes), and rate-limited, logged sign-in.

File shape::

    users:
      alice: {role: admin, password_hash: "$2b$12$...", name: Alice, email: alice@example.org}
      bob:   {role: annotator, password_hash: "$2b$12$..."}
"""

from __future__ import annotations

import hashlib
import ipaddress
import stat
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from curation import config
from curation.identity import ROLES, User
from curation.store import Store, team

MAX_FAILURES = 5
FAILURE_WINDOW_S = 600


class SignInError(ValueError):
    """Sign-in refused: wrong name or password, or too many failures."""


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    password_hash: str
    name: str = ""
    email: str = ""

    @property
    def user(self) -> User:
        return User(self.username, self.role)


def auth_enabled() -> bool:
    """True when a users file is configured: the app asks for a login and every action is checked."""
    return bool(config.get("users_file").strip())


def is_loopback(address: str) -> bool:
    """Whether a server address is reachable from this machine only."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def serves_locally_only(bind_address: str | None) -> bool:
    """Whether a server bound to `bind_address` is reachable from this machine only. Empty or None is not: a
    server with no address (Streamlit's `server.address` unset or "") listens on every interface."""
    address = (bind_address or "").strip()
    return bool(address) and (address.startswith("unix://") or is_loopback(address))


def hash_password(password: str) -> str:
    """A bcrypt hash to paste into the users file."""
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def bad_name_character(name: str) -> str | None:
    """The first control / line-break character in a user name (escaped for display), or None if it has none."""
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            return ascii(char)
    return None


def escape_controls(text: object) -> str:
    """Text with control characters shown escaped (a typed name never prints as a fake log line)."""
    text = str(text)
    return text if bad_name_character(text) is None else ascii(text)[1:-1]


def _read_users_file(path: Path) -> bytes:
    """The users file's bytes; refused when group or others may write it (they could make themselves admin)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ValueError(
                f"{path}: the users file is writable by group or others (mode {stat.S_IMODE(mode):o}); "
                f"anyone who can write it can make themselves admin: run `chmod 600 {path}`"
            )
        return path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the users file ({err.strerror})") from err


def load_accounts(path: str | Path | None = None) -> dict[str, Account]:
    """Read and check the users file; errors name the file, the user and the rule."""
    path = Path(path or config.get("users_file")).expanduser()
    return _parse_accounts(path, _read_users_file(path))


def _parse_accounts(path: Path, raw: bytes) -> dict[str, Account]:
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: the users file is not UTF-8 text ({err.reason})") from err
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from err
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict) or not users:
        raise ValueError(f"{path}: expected a 'users:' mapping of user name -> {{role, password_hash}}")
    accounts = {}
    for username, entry in users.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: user {username!r}: expected a mapping with role and password_hash")
        bad = bad_name_character(str(username))
        if bad or str(username) != str(username).strip() or not str(username):
            raise ValueError(
                f"{path}: user {str(username)!a}: a user name must be non-empty, without control characters "
                f"or line breaks{f' (found {bad})' if bad else ''} and without leading or trailing spaces"
            )
        role = entry.get("role")
        if role not in ROLES:
            raise ValueError(f"{path}: user {username!r}: role must be one of {', '.join(ROLES)}; got {role!r}")
        digest = str(entry.get("password_hash") or "")
        if digest and not digest.startswith("$2"):
            raise ValueError(f"{path}: user {username!r}: password_hash must be a bcrypt hash (see `users hash`)")
        accounts[str(username)] = Account(
            str(username), role, digest, str(entry.get("name") or ""), str(entry.get("email") or "")
        )
    return accounts


_CACHE: dict[str, tuple[str, dict[str, Account]]] = {}


def current_accounts() -> dict[str, Account]:
    """The users file as it is now, so a role change or removal applies at once.

    Keyed by a hash of the content, not the modification time: an edit within the same second, or a `cp -p`,
    keeps the old mtime but must still count.
    """
    path = Path(config.get("users_file")).expanduser()
    try:
        raw = _read_users_file(path)
    except ValueError:
        if not path.exists():
            return {}
        raise
    digest = hashlib.sha256(raw).hexdigest()
    cached = _CACHE.get(str(path))
    if cached is None or cached[0] != digest:
        cached = (digest, _parse_accounts(path, raw))
        _CACHE[str(path)] = cached
    return cached[1]


# One sign-in at a time reaches the check-and-record step, so parallel attempts cannot all pass the count.
_SIGN_IN_LOCK = threading.Lock()
_DUMMY_HASHES: dict[bytes, bytes] = {}


def _dummy_hash(accounts: dict[str, Account]) -> bytes:
    """A bcrypt hash with the cost the real accounts use, checked for unknown names so they take as long."""
    costs = sorted(a.password_hash[:7] for a in accounts.values() if a.password_hash.startswith("$2"))
    prefix = (costs[-1] if costs else "$2b$12$").encode("ascii")
    if prefix not in _DUMMY_HASHES:
        rounds = int(prefix.split(b"$")[2]) if prefix.count(b"$") >= 3 else 12
        _DUMMY_HASHES[prefix] = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=rounds))
    return _DUMMY_HASHES[prefix]


def _password_matches(account: Account | None, password: str, accounts: dict[str, Account]) -> bool:
    """bcrypt the password against the account's hash, or against a dummy hash when there is none (same time)."""
    real = account is not None and account.password_hash.startswith("$2")
    digest = account.password_hash.encode("ascii") if real else _dummy_hash(accounts)
    try:
        matches = bcrypt.checkpw(password.encode("utf-8"), digest)
    except ValueError:  # a malformed hash in the users file
        matches = False
    return real and matches


def _locked_out(username: str) -> SignInError:
    return SignInError(
        f"too many failed sign-ins for {escape_controls(username)!r}; wait {FAILURE_WINDOW_S // 60} minutes "
        "and try again"
    )


def sign_in(store: Store, accounts: dict[str, Account], username: str, password: str) -> User:
    """Check a password; every attempt is logged, and a name with too many recent failures is locked out.

    The attempt is recorded (as a failure) and the count checked under one lock *before* bcrypt, so N parallel
    attempts cannot all pass the check; a right password that arrives once the name is locked does not unlock it.
    """
    username = username.strip()
    if bad_name_character(username):
        team.log_login(store, escape_controls(username), False, "user name with control characters")
        _password_matches(None, password, accounts)
        raise SignInError("wrong user name or password")
    with _SIGN_IN_LOCK, store.transaction():
        locked = team.recent_failures(store, username, FAILURE_WINDOW_S) >= MAX_FAILURES
        attempt = team.log_login(store, username, False, "locked out" if locked else "checking")
    if locked:
        raise _locked_out(username)
    account = accounts.get(username)
    ok = _password_matches(account, password, accounts)
    with _SIGN_IN_LOCK, store.transaction():
        locked = ok and team.recent_failures(store, username, FAILURE_WINDOW_S, excluding=attempt) >= MAX_FAILURES
        detail = "password" if ok else "wrong user name or password"
        detail = "locked out (the password was right)" if locked else detail
        team.settle_login(store, attempt, ok and not locked, detail)
    if locked:
        raise _locked_out(username)
    if not ok or account is None:
        raise SignInError("wrong user name or password")
    return account.user


def account_for_identity(accounts: dict[str, Account], claims: dict[str, Any]) -> Account | None:
    """The account an identity provider's verified e-mail address belongs to (OIDC sign-in), if any.

    An unverified address is never matched: many providers let anyone claim any address.
    """
    if claims.get("email_verified") not in (True, "true", "True"):
        return None
    return account_for_email(accounts, claims.get("email"))


def account_for_email(accounts: dict[str, Account], email: str | None) -> Account | None:
    """The account an identity provider's e-mail address belongs to (OIDC sign-in), if any."""
    wanted = (email or "").strip().lower()
    return next((a for a in accounts.values() if a.email and a.email.lower() == wanted), None)


def cli_user(name: str | None) -> User | None:
    """The user the CLI acts as: None with login off; else the named account (refused when unknown)."""
    if not auth_enabled():
        return None
    name = (name or config.get("cli_user")).strip()
    if not name:
        raise ValueError("a users file is set: pass --user NAME (or set INSTRUCT_CURATOR_CLI_USER)")
    account = load_accounts().get(name)
    if account is None:
        raise ValueError(f"no user {name!r} in {config.get('users_file')}")
    return account.user
