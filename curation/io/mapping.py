"""Field mapping: which field of a file's records feeds each example field, by name or by a nested path.

A path is a field name (`response`), or names and list positions joined by dots (`conversation.0.text`,
`meta.source`). A field whose own name contains a dot is found by that name first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from curation.io.errors import InvalidInputError

MAPPABLE = ("instruction", "input", "output", "task", "task_cluster", "id", "tags")
MISSING = object()
# Common names of the same fields in public files (GPTeacher `response`, Dolly `context`, `prompt`/`completion`).
ALIASES = {
    "instruction": ("instruction", "prompt", "question", "query"),
    "input": ("input", "context"),
    "output": ("output", "response", "answer", "completion"),
}
MAX_DEPTH = 4
MAX_POSITIONS = 3


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray"  # Parquet lists come as arrays


def resolve(record: Any, path: str) -> Any:
    """The value at `path` in `record`, or MISSING."""
    if isinstance(record, dict) and path in record:
        return record[path]
    value = record
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif _is_sequence(value) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def checked(mapping: dict[str, str] | None, file_name: str) -> dict[str, str] | None:
    """The mapping without unmapped targets; an error for an unknown target or a mapping without instruction."""
    mapping = {k: v for k, v in (mapping or {}).items() if v}
    if not mapping:
        return None
    unknown = [k for k in mapping if k not in MAPPABLE]
    if unknown:
        raise InvalidInputError(
            [f"{file_name}: field mapping invalid: unknown target fields {unknown}; map to {', '.join(MAPPABLE)}"]
        )
    if "instruction" not in mapping:
        raise InvalidInputError([f"{file_name}: field mapping invalid: no field mapped to 'instruction'"])
    return mapping


def remap(record: dict, mapping: dict[str, str]) -> tuple[dict, dict]:
    """(the example fields found at their paths, the record's other top-level fields for the metadata)."""
    mapped = {target: value for target, path in mapping.items() if (value := resolve(record, path)) is not MISSING}
    used = set(mapping.values())
    return mapped, {k: v for k, v in record.items() if k not in used}


def _paths(value: Any, prefix: str, depth: int) -> Iterator[str]:
    if depth >= MAX_DEPTH:
        return
    if isinstance(value, dict):
        children: Iterable[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif _is_sequence(value):
        children = ((str(i), v) for i, v in enumerate(value[:MAX_POSITIONS]))
    else:
        return
    for name, child in children:
        path = f"{prefix}.{name}" if prefix else name
        yield path
        yield from _paths(child, path, depth + 1)


def field_paths(records: Iterable[Any]) -> list[str]:
    """Every field path in `records` (nested fields and the first list positions too), in order of first sight."""
    seen: dict[str, None] = {}
    for record in records:
        for path in _paths(record, "", 0):
            seen.setdefault(path)
    return list(seen)


def suggested(paths: list[str]) -> dict[str, str]:
    """A first mapping: each target's own name or a common alias among the top-level fields."""
    top = [p for p in paths if "." not in p]
    found = {}
    for target in MAPPABLE:
        names = ALIASES.get(target, (target,))
        match = next((name for name in names if name in top), None)
        if match is not None and match not in found.values():
            found[target] = match
    return found


def unresolved(records: list[dict], mapping: dict[str, str]) -> list[str]:
    """Mapped paths that no record has (a typo in the mapping, not a few incomplete rows)."""
    return [p for p in mapping.values() if all(resolve(r, p) is MISSING for r in records)]
