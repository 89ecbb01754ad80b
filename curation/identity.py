"""Who is acting, and what their role lets them do. Shared by the store (the one place every change passes)
and the app / CLI (which say who is signed in). With no user set, auth is off: everything is allowed and the
`author` setting names the actor, as for a single person on one machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

ROLES = ("viewer", "annotator", "curator", "admin")
ROLE_HELP = {
    "viewer": "browse and search; no changes, no exports",
    "annotator": "review assigned rows in campaigns and edit them",
    "curator": "everything on data: import, templates, generation, dedup, CoT, mixture, export, campaigns",
    "admin": "everything, plus fine-tuning and users",
}
# Row actions an annotator may take, and only on rows assigned to them in an open campaign.
ANNOTATOR_KINDS = {"edit", "revert", "campaign-response"}
ADMIN_PREFIXES = ("finetune", "train", "users")
# Fields only a curator changes: an annotator's decision is a campaign response, never the row's status.
DECISION_FIELDS = {"status", "status_reason"}


class PermissionDenied(PermissionError, ValueError):
    """The acting user's role does not allow this action (a ValueError too, so every page shows it as an error)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {self.role!r} for user {self.name!r}")

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


SYSTEM = User("system", "admin")  # the app's own bookkeeping (built-in tasks, sample data), never a person

_acting: ContextVar[User | None] = ContextVar("acting_user", default=None)
_provider: Callable[[], User | None] | None = None


def set_provider(provider: Callable[[], User | None] | None) -> None:
    """Install where the signed-in user comes from when none is set explicitly (the app's session)."""
    global _provider
    _provider = provider


def current() -> User | None:
    """The acting user: set with `acting_as`, else the provider's, else None (auth off)."""
    user = _acting.get()
    if user is None and _provider is not None:
        user = _provider()
    return user


@contextlib.contextmanager
def acting_as(user: User | None) -> Iterator[None]:
    """Run a block (a CLI command, a background job) as `user`."""
    token = _acting.set(user)
    try:
        yield
    finally:
        _acting.reset(token)


def required_role(kind: str) -> str:
    """The least role that may perform an action or start a job of this kind."""
    if kind in ANNOTATOR_KINDS:
        return "annotator"
    if kind.startswith(ADMIN_PREFIXES):
        return "admin"
    return "curator"


def require(
    kind: str,
    *,
    assigned: Callable[[str], set[int]] | None = None,
    ids: list[int] | None = None,
    fields: set[str] | None = None,
) -> None:
    """Raise PermissionDenied unless the acting user may do `kind` (annotators: on rows `ids`, text fields only)."""
    user = current()
    if user is None:
        return
    needed = required_role(kind)
    if not user.at_least(needed):
        raise PermissionDenied(f"{user.name} ({user.role}) may not {kind}: it needs the {needed} role")
    decisions = sorted((fields or set()) & DECISION_FIELDS)
    if user.role == "annotator" and decisions:
        raise PermissionDenied(
            f"{user.name} (annotator) may not change {', '.join(decisions)}: decisions go into campaign responses"
        )
    if user.role == "annotator" and ids is not None and assigned is not None:
        outside = sorted(set(ids) - assigned(user.name))
        if outside:
            shown = ", ".join(f"#{i}" for i in outside[:10]) + (" ..." if len(outside) > 10 else "")
            raise PermissionDenied(f"{user.name} (annotator) may only change rows assigned to them; not {shown}")
