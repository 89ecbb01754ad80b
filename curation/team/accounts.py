"""Local accounts in a YAML file the admin edits (bcrypt password hashes), and rate-limited, logged sign-in.

File shape::

    users:
      alice: {role: admin, password_hash: "$2b$12$...", name: Alice, email: alice@example.org}
      bob:   {role: annotator, password_hash: "$2b$12$..."}
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

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


def hash_password(password: str) -> str:
    """A bcrypt hash to paste into the users file."""
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def load_accounts(path: str | Path | None = None) -> dict[str, Account]:
    """Read and check the users file; errors name the file, the user and the rule."""
    path = Path(path or config.get("users_file")).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ValueError(f"{path}: cannot read the users file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from err
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict) or not users:
        raise ValueError(f"{path}: expected a 'users:' mapping of user name -> {{role, password_hash}}")
    accounts = {}
    for username, entry in users.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: user {username!r}: expected a mapping with role and password_hash")
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


_CACHE: dict[str, tuple[float, dict[str, Account]]] = {}


def current_accounts() -> dict[str, Account]:
    """The users file as it is now (re-read when it changes), so a role change or removal applies at once."""
    path = Path(config.get("users_file")).expanduser()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    cached = _CACHE.get(str(path))
    if cached is None or cached[0] != mtime:
        cached = (mtime, load_accounts(path))
        _CACHE[str(path)] = cached
    return cached[1]


def sign_in(store: Store, accounts: dict[str, Account], username: str, password: str) -> User:
    """Check a password; every attempt is logged, and a name with too many recent failures is locked out."""
    username = username.strip()
    if team.recent_failures(store, username, FAILURE_WINDOW_S) >= MAX_FAILURES:
        team.log_login(store, username, False, "locked out")
        raise SignInError(
            f"too many failed sign-ins for {username!r}; wait {FAILURE_WINDOW_S // 60} minutes and try again"
        )
    account = accounts.get(username)
    ok = bool(
        account
        and account.password_hash
        and bcrypt.checkpw(password.encode("utf-8"), account.password_hash.encode("ascii"))
    )
    team.log_login(store, username, ok, "password" if ok else "wrong user name or password")
    if not ok:
        raise SignInError("wrong user name or password")
    return account.user


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
