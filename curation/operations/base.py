"""The operation contract: pure scoring of rows into signals, and decisions (status / tags / edits) from signals.

An operation never touches the database nor picks where it runs: the shared job hands it rows (`RowText`) in
batches on whatever executor the run was given, stores the `Signal`s it returns (keyed by row id, signal name and
variant, with the row version they were computed on), and applies its `Decision`s through the revisions path as
one undoable action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class RowText:
    """What an operation may read of one example."""

    id: int
    version: int
    instruction: str
    input: str = ""
    output: str = ""
    messages: list[dict[str, Any]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


FIELDS = ("instruction", "input", "output")


def row_fields(row: RowText) -> list[tuple[str, str]]:
    """(field, text) of every non-empty text of a row: instruction / input / output, then `messages[i]` turns."""
    found = [(name, getattr(row, name) or "") for name in FIELDS]
    for i, turn in enumerate(row.messages or []):
        content = turn.get("content") if isinstance(turn, Mapping) else None
        if isinstance(content, str):
            found.append((f"messages[{i}]", content))
    return [(name, text) for name, text in found if text.strip()]


def text_of(row: RowText) -> str:
    """All of a row's distinct texts joined by blank lines (an imported conversation repeats its first turns in
    instruction / output, so a turn equal to a field is not counted twice)."""
    return "\n\n".join(dict.fromkeys(text for _, text in row_fields(row)))


@dataclass(frozen=True)
class Signal:
    """One operation's result for one row: a score and/or a label, with the evidence behind it (JSON-able)."""

    id: int
    score: float | None = None
    label: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What to change on one row and why. `edits` maps a field (instruction / input / output) to its new text."""

    id: int
    reason: str
    status: str | None = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    edits: Mapping[str, str] = field(default_factory=dict)


class Operation:
    """Base class of a curation operation; subclasses set the class attributes and implement both methods.

    `defaults` are the parameters `score` and `decide` accept (JSON-able values), validated by `check_params`;
    `variant_param` names the parameter whose value is the signal's variant (e.g. a rubric or an eval file), or
    None when the operation has a single variant.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]] = {}
    variant_param: ClassVar[str | None] = None
    # Where a score sits on its axis, for the page's histogram and threshold: (low, high) or None for labels only.
    score_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    def params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults updated with `given`; unknown names and bad values raise ValueError naming the rule."""
        unknown = sorted(set(given or {}) - set(self.defaults))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; known: {sorted(self.defaults)}")
        merged = {**self.defaults, **(given or {})}
        self.check_params(merged)
        return merged

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise ValueError with the rule and the value when a parameter is out of range."""

    def variant(self, params: Mapping[str, Any]) -> str:
        return str(params[self.variant_param]) if self.variant_param else ""

    def score(self, rows: Sequence[RowText], params: Mapping[str, Any]) -> list[Signal]:
        """One Signal per row, in order. Pure: no database, no global state, safe in another process."""
        raise NotImplementedError

    def decide(self, signals: Sequence[Signal], params: Mapping[str, Any]) -> list[Decision]:
        """Decisions for the rows whose signals call for one (rows left alone get none)."""
        raise NotImplementedError


_REGISTRY: dict[str, Operation] = {}


def register(operation: Operation) -> Operation:
    """Add an operation to the registry (module import time); names are unique."""
    if operation.name in _REGISTRY and type(_REGISTRY[operation.name]) is not type(operation):
        raise ValueError(f"operation {operation.name!r} is registered twice")
    _REGISTRY[operation.name] = operation
    return operation


def get(name: str) -> Operation:
    """The registered operation called `name`; KeyError lists the known names."""
    _load_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"no operation {name!r}; known: {', '.join(sorted(_REGISTRY)) or 'none'}")
    return _REGISTRY[name]


def all_operations() -> list[Operation]:
    """Every registered operation, by name."""
    _load_builtin()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


# Module names under curation.operations, imported on first use.
BUILTIN: tuple[str, ...] = (
    "judge",
    "language",
    "quality",
    "trace",
    "ngram_contamination",
    "pii",
)


def _load_builtin() -> None:
    import importlib

    for module in BUILTIN:
        importlib.import_module(f"curation.operations.{module}")
