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

    def __post_init__(self) -> None:
        if (self.min_rating is not None or self.max_rating is not None) and not self.rating_rubric:
            raise ValueError("a rating range needs rating_rubric: the judge rubric whose scores it filters")
        if self.length_field not in LENGTH_FIELDS:
            raise ValueError(f"length_field must be one of {LENGTH_FIELDS}; got {self.length_field!r}")
        for name, allowed in (("origins", ORIGINS), ("statuses", STATUSES)):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise ValueError(f"{name} must be among {allowed}; got {bad}")

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
            shown = ", ".join(f"#{v}" if key == "ids" else str(v) for v in value) if isinstance(value, list) else value
            parts.append(f"{name}: {shown}" if key != "search" else f"text contains {value!r}")
        return "; ".join(parts) if parts else "all rows"
