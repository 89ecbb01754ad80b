"""The admin's allowlist of LLM endpoints: which API-key environment variable may be sent to which base URL.

With a users file set (a team), an OpenAI-compatible backend only starts for a listed (key variable, base URL)
pair, in the app and the CLI alike (`make_llm` checks it): otherwise a curator could send any variable of the
server's environment (`SUPER_SECRET`) as a Bearer token to any host. The list is the `llm_endpoints` setting
(`VAR=URL` pairs, for the person who starts the server) joined with the pairs admins add with
`python -m curation endpoints add` (kept in the database). With login off, one person on their own machine uses
any endpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from curation import config, identity
from curation.store import Store
from curation.store import team as team_store

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EndpointNotAllowed(ValueError):
    """A (key variable, base URL) pair that the admin's allowlist does not hold."""


@dataclass(frozen=True, order=True)
class Endpoint:
    api_key_env: str
    base_url: str

    @property
    def label(self) -> str:
        return f"{self.base_url} (key: {self.api_key_env or 'none'})"


def normalize_url(url: str) -> str:
    """A base URL as compared against the list: stripped, without trailing slashes; must be http(s)."""
    url = (url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://; got {url!r}")
    return url


def make_endpoint(api_key_env: str, base_url: str) -> Endpoint:
    """A checked pair: an environment-variable name (or empty: no key) and an http(s) base URL."""
    api_key_env = (api_key_env or "").strip()
    if api_key_env and not _VARIABLE.match(api_key_env):
        raise ValueError(f"key variable must be an environment-variable name (letters, digits, _); got {api_key_env!r}")
    return Endpoint(api_key_env, normalize_url(base_url))


def from_setting(text: str) -> list[Endpoint]:
    """Pairs from the `llm_endpoints` setting: `VAR=URL` separated by spaces or commas (`=URL`: no key)."""
    found = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        var, sep, url = item.partition("=")
        if not sep:
            raise ValueError(f"{config.SETTINGS['llm_endpoints'].env}: expected VAR=URL; got {item!r}")
        found.append(make_endpoint(var, url))
    return found


def team_mode() -> bool:
    """Whether the allowlist applies (a users file is set)."""
    return bool(config.get("users_file").strip())


def allowed(store: Store) -> list[Endpoint]:
    """Every allowed pair: the setting's and the admins', sorted, without repeats."""
    stored = [Endpoint(r["api_key_env"], r["base_url"]) for r in team_store.list_endpoints(store)]
    return sorted(set(from_setting(config.get("llm_endpoints")) + stored))


def check(allowed_endpoints: list[Endpoint] | None, api_key_env: str, base_url: str) -> None:
    """Raise EndpointNotAllowed unless login is off or the pair is listed."""
    if not team_mode():
        return
    if allowed_endpoints is None:
        raise EndpointNotAllowed("a users file is set: an OpenAI-compatible backend needs the admin's endpoint list")
    wanted = make_endpoint(api_key_env, base_url)
    if wanted not in allowed_endpoints:
        raise EndpointNotAllowed(
            f"key variable {wanted.api_key_env or '(none)'!r} may not be sent to {wanted.base_url}: not in the admin's "
            "endpoint list (`python -m curation endpoints list`; an admin adds one with `endpoints add VAR URL`)"
        )


def add(store: Store, api_key_env: str, base_url: str, added_by: str) -> Endpoint:
    """Admin only: allow one more pair."""
    identity.require("users-endpoints")
    endpoint = make_endpoint(api_key_env, base_url)
    team_store.add_endpoint(store, endpoint.api_key_env, endpoint.base_url, added_by)
    return endpoint


def remove(store: Store, api_key_env: str, base_url: str) -> bool:
    """Admin only: withdraw a pair (pairs from the setting stay until the setting changes)."""
    identity.require("users-endpoints")
    endpoint = make_endpoint(api_key_env, base_url)
    return team_store.remove_endpoint(store, endpoint.api_key_env, endpoint.base_url)
