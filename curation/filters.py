"""What the user is looking at: a filter over examples, shared by browse, review, export and jobs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ORIGINS = ("seed", "templated", "generated", "imported")
STATUSES = ("pending", "approved", "rejected", "duplicate")
FORMATS = ("zero-shot", "few-shot", "cot")
LENGTH_FIELDS = ("instruction", "input", "output", "total")
SORTABLE = ("id", "instruction", "status", "origin", "task", "source", "length", "updated_at")


_SINGULAR = {
    "sources": "source",
    "origins": "origin",
    "statuses": "status",
    "tags": "tag",
    "untagged": "without tag",
    "tasks": "task",
    "clusters": "cluster",
    "formats": "format",
    "ids": "id",
}
JUDGE_SIGNAL = "judge"  # the signal name of judge ratings; a rating range is a signal clause on it


@dataclass(frozen=True)
class SignalClause:
    """Rows whose stored signal `name` (of `variant`, or of any variant when None) has a score in [min, max] and,
    when `labels` is given, one of those labels."""

    name: str
    variant: str | None = None
    min: float | None = None
    max: float | None = None
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a signal filter needs a name, e.g. {'name': 'language', 'labels': ['en']}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"signal filter {self.name!r}: min must be <= max; got {self.min} > {self.max}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalClause:
        unknown = sorted(set(data) - {"name", "variant", "min", "max", "labels"})
        if unknown:
            raise ValueError(f"signal filter: unknown key(s) {unknown}; known: name, variant, min, max, labels")
        labels = data.get("labels") or ()
        labels = (labels,) if isinstance(labels, str) else tuple(str(v) for v in labels)
        low, high = data.get("min"), data.get("max")
        variant = data.get("variant")
        return cls(str(data.get("name") or ""), None if variant is None else str(variant),
                   None if low is None else float(low), None if high is None else float(high), labels)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.variant is not None:
            out["variant"] = self.variant
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.labels:
            out["labels"] = list(self.labels)
        return out

    def describe(self) -> str:
        name = f"{self.name}[{self.variant}]" if self.variant else self.name
        parts = []
        if self.min is not None or self.max is not None:
            parts.append(f"{'' if self.min is None else f'{self.min:g} <= '}score"
                         f"{'' if self.max is None else f' <= {self.max:g}'}")  # fmt: skip
        if self.labels:
            parts.append("label in " + "/".join(self.labels))
        return f"{name} " + " and ".join(parts or ["scored"])


@dataclass
class ExampleFilter:
    """Filter over examples; empty lists mean 'any'. `search` matches instruction, input and output."""

    search: str = ""
    sources: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    untagged: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    length_field: str = "total"
    min_length: int | None = None
    max_length: int | None = None
    rating_rubric: str = ""
    min_rating: float | None = None
    max_rating: float | None = None
    # Signal clauses, all must hold: {"name", "variant" (omit: any variant), "min", "max", "labels"}; see SignalClause.
    signals: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.signals = [SignalClause.from_dict(s).to_dict() for s in self.signals]
        if (self.min_rating is not None or self.max_rating is not None) and not self.rating_rubric:
            raise ValueError("a rating range needs rating_rubric: the judge rubric whose scores it filters")
        if self.length_field not in LENGTH_FIELDS:
            raise ValueError(f"length_field must be one of {LENGTH_FIELDS}; got {self.length_field!r}")
        for name, allowed in (("origins", ORIGINS), ("statuses", STATUSES)):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise ValueError(f"{name} must be among {allowed}; got {bad}")

    def signal_clauses(self) -> list[SignalClause]:
        """The signal clauses, the judge rating range included (as a clause on the judge signal)."""
        clauses = [SignalClause.from_dict(s) for s in self.signals]
        if self.rating_rubric:
            # an unusable rating (no score) never matches a rating filter, even without a range
            low = self.min_rating if self.min_rating is not None else float("-inf")
            clauses.append(SignalClause(JUDGE_SIGNAL, self.rating_rubric, low, self.max_rating))
        return clauses

    def to_dict(self) -> dict[str, Any]:
        """Only the parts that are set, for manifests and job params."""
        return {k: v for k, v in asdict(self).items() if v not in ("", [], None) and k != "length_field"} | (
            {"length_field": self.length_field} if self.min_length or self.max_length else {}
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExampleFilter:
        return cls(**(data or {}))

    def describe(self) -> str:
        """Human-readable summary, e.g. for confirmations."""
        parts = []
        for key, value in self.to_dict().items():
            name = _SINGULAR.get(key, key.replace("_", " "))
            if key == "signals":
                parts.append("signal: " + "; ".join(SignalClause.from_dict(v).describe() for v in value))
                continue
            shown = ", ".join(f"#{v}" if key == "ids" else str(v) for v in value) if isinstance(value, list) else value
            parts.append(f"{name}: {shown}" if key != "search" else f"text contains {value!r}")
        return "; ".join(parts) if parts else "all rows"
