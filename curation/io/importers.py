"""Parse instruction files into rows, validating everything before the store is touched.

Formats: alpaca (JSON array), selfinstruct-seed (JSONL with instances), jsonl (generic, one object per line),
messages (OpenAI `messages` or ShareGPT `conversations` JSONL; `reasoning_content` and `<think>` kept as
`meta.rationale` / `meta.answer`), csv and parquet (with a column mapping),
flan-cot-tsv (question, answer, rationale; literal `\\n` in fields). Every error names file, line and rule.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from curation import config
from curation.io.reasoning import reasoning_fields, turn_reasoning
from curation.store import Store
from curation.store import examples as example_rows

FORMATS = ("alpaca", "selfinstruct-seed", "jsonl", "messages", "csv", "parquet", "flan-cot-tsv")
MAPPABLE = ("instruction", "input", "output", "task", "task_cluster", "id", "tags")
MAX_ERRORS = 20
_ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "system": "system",
    "model": "assistant",
}


class InvalidInputError(ValueError):
    """A file broke a rule; `errors` lists every problem found (file, line, rule)."""

    def __init__(self, errors: list[str]) -> None:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        super().__init__(errors[0] + more)
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    source_id: int
    rows: int
    ids: list[int]


class _Problems:
    """Collects row-level problems and raises them together."""

    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self.items: list[str] = []

    def add(self, line: int | None, message: str) -> None:
        where = f"{self.file_name} line {line}" if line else self.file_name
        self.items.append(f"{where}: {message}")
        if len(self.items) >= MAX_ERRORS:
            self.raise_if_any()

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInputError(self.items)


def guess_format(file_name: str) -> str | None:
    """A likely format from the file name (the user can always override)."""
    name = file_name.lower()
    if name.endswith(".tsv"):
        return "flan-cot-tsv"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".json"):
        return "alpaca"
    if name.endswith((".jsonl", ".ndjson")):
        return "selfinstruct-seed" if "seed" in name else "jsonl"
    return None


def decode_utf8(data: bytes, file_name: str) -> str:
    """Text of the file, or an error naming the line of the first byte that is not UTF-8."""
    if not data.strip():
        raise InvalidInputError([f"{file_name}: file is empty"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InvalidInputError(
            [
                f"{file_name} line {line}: bytes are not valid UTF-8 (byte 0x{data[err.start]:02x}); "
                "save the file as UTF-8"
            ]
        ) from err


def _json_lines(text: str, problems: _Problems) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            problems.add(number, f"malformed JSON ({err.msg} at column {err.colno})")


def _json_array(text: str, problems: _Problems) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    pos, line, n = 0, 1, len(text)

    def skip(p: int) -> int:
        while p < n and text[p] in " \t\r\n":
            p += 1
        return p

    pos = skip(pos)
    if pos >= n or text[pos] != "[":
        raise InvalidInputError([f"{problems.file_name} line 1: expected a JSON array of objects ('[' first)"])
    pos, counted = pos + 1, 0
    while True:
        pos = skip(pos)
        line += text.count("\n", counted, pos)
        counted = pos
        if pos < n and text[pos] == "]":
            return
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise InvalidInputError([f"{problems.file_name} line {err.lineno}: malformed JSON ({err.msg})"]) from err
        yield line, item
        pos = skip(end)
        if pos < n and text[pos] == ",":
            pos += 1
        elif pos >= n or text[pos] != "]":
            at = text.count("\n", 0, pos) + 1
            raise InvalidInputError([f"{problems.file_name} line {at}: expected ',' or ']' between array items"])


class _RowBuilder:
    """Checks each record against the field rules and collects rows."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self.max_bytes = int(config.get("max_field_bytes"))
        self.rows: list[dict[str, Any]] = []
        self.seen_ids: dict[str, int] = {}

    def text(self, line: int, record: dict, key: str, *, required: bool = False) -> str | None:
        value = record.get(key)
        if value is None:
            if required:
                self.problems.add(line, f"missing required field '{key}'")
            return None if required else ""
        if not isinstance(value, str):
            self.problems.add(line, f"field '{key}' must be a string; got {type(value).__name__}")
            return None
        if required and not value.strip():
            self.problems.add(line, f"field '{key}' is empty")
            return None
        size = len(value.encode("utf-8"))
        if size > self.max_bytes:
            self.problems.add(
                line,
                f"field '{key}' is {size:,} bytes; the limit is {self.max_bytes:,} (INSTRUCT_CURATOR_MAX_FIELD_BYTES)",
            )
            return None
        return value

    def check_id(self, line: int, record: dict) -> None:
        if record.get("id") is None:
            return
        key = str(record["id"])
        if key in self.seen_ids:
            self.problems.add(line, f"duplicate id {key!r} (first seen on line {self.seen_ids[key]})")
        self.seen_ids.setdefault(key, line)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


def _object(line: int, item: Any, builder: _RowBuilder) -> dict | None:
    if not isinstance(item, dict):
        builder.problems.add(line, f"expected a JSON object; got {type(item).__name__}")
        return None
    return item


def _extra(record: dict, known: tuple[str, ...]) -> dict:
    return {k: v for k, v in record.items() if k not in known}


def _simple_row(line: int, row_no: int, record: dict, builder: _RowBuilder, origin: str) -> None:
    known = ("instruction", "input", "output", "task", "task_cluster", "tags")
    builder.check_id(line, record)
    values = {k: builder.text(line, record, k, required=k == "instruction") for k in ("instruction", "input", "output")}
    tags = record.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        builder.problems.add(line, "field 'tags' must be a list of strings")
        return
    if any(v is None for v in values.values()):
        return
    builder.add(
        {
            **values,
            "source_row": row_no,
            "origin": origin,
            "task": record.get("task"),
            "task_cluster": record.get("task_cluster"),
            "tags": tags,
            "meta": _extra(record, known) or None,
        }
    )


def _parse_alpaca(text: str, builder: _RowBuilder, origin: str) -> None:
    for row_no, (line, item) in enumerate(_json_array(text, builder.problems)):
        record = _object(line, item, builder)
        if record is not None:
            _simple_row(line, row_no, record, builder, origin)


def _parse_instances(line: int, row_no: int, record: dict, builder: _RowBuilder, origin: str) -> None:
    instruction = builder.text(line, record, "instruction", required=True)
    instances = record.get("instances")
    if not isinstance(instances, list) or not instances:
        builder.problems.add(line, "field 'instances' must be a non-empty list of {input, output} objects")
        return
    builder.check_id(line, record)
    is_cls = record.get("is_classification")
    if is_cls is not None and not isinstance(is_cls, bool):
        builder.problems.add(line, "field 'is_classification' must be true or false")
    for index, inst in enumerate(instances):
        if not isinstance(inst, dict):
            builder.problems.add(line, f"instances[{index}] must be an object")
            continue
        inp, out = builder.text(line, inst, "input"), builder.text(line, inst, "output")
        if instruction is None or inp is None or out is None:
            continue
        meta = {"instance_index": index, **_extra(record, ("instruction", "instances", "is_classification", "name"))}
        builder.add(
            {
                "instruction": instruction,
                "input": inp,
                "output": out,
                "source_row": row_no,
                "origin": origin,
                "task": record.get("name"),
                "is_classification": is_cls,
                "meta": meta,
            }
        )


def _parse_seed(text: str, builder: _RowBuilder, origin: str) -> None:
    for row_no, (line, item) in enumerate(_json_lines(text, builder.problems)):
        record = _object(line, item, builder)
        if record is not None:
            _parse_instances(line, row_no, record, builder, origin)


def _parse_jsonl(text: str, builder: _RowBuilder, origin: str) -> None:
    for row_no, (line, item) in enumerate(_json_lines(text, builder.problems)):
        record = _object(line, item, builder)
        if record is None:
            continue
        if "instances" in record:
            _parse_instances(line, row_no, record, builder, origin)
        else:
            _simple_row(line, row_no, record, builder, origin)


def _conversation(line: int, record: dict, builder: _RowBuilder) -> list[dict[str, str]] | None:
    turns = record.get("messages", record.get("conversations"))
    if not isinstance(turns, list) or not turns:
        builder.problems.add(line, "missing required field 'messages' (or ShareGPT 'conversations'): a list of turns")
        return None
    out = []
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict):
            builder.problems.add(line, f"messages[{index}] must be an object")
            return None
        role = _ROLE_ALIASES.get(str(turn.get("role", turn.get("from", ""))).lower())
        content = turn.get("content", turn.get("value"))
        if role is None or not isinstance(content, str):
            builder.problems.add(line, f"messages[{index}] needs a role (user/assistant/system) and string content")
            return None
        if len(content.encode("utf-8")) > builder.max_bytes:
            builder.problems.add(line, f"messages[{index}] content exceeds {builder.max_bytes:,} bytes")
            return None
        reasoning, error = turn_reasoning(turn)
        if error:
            builder.problems.add(line, f"messages[{index}] {error}")
            return None
        out.append({"role": role, "content": content} | ({"reasoning_content": reasoning} if reasoning else {}))
    return out


def _parse_messages(text: str, builder: _RowBuilder, origin: str) -> None:
    for row_no, (line, item) in enumerate(_json_lines(text, builder.problems)):
        record = _object(line, item, builder)
        turns = record is not None and _conversation(line, record, builder)
        if not turns:
            continue
        builder.check_id(line, record)
        first_user = next((i for i, t in enumerate(turns) if t["role"] == "user"), None)
        if first_user is None:
            builder.problems.add(line, "conversation has no user turn")
            continue
        reply = next((t for t in turns[first_user + 1 :] if t["role"] == "assistant"), {})
        answer = reply.get("content", "")
        system = [t["content"] for t in turns if t["role"] == "system"]
        meta = _extra(record, ("messages", "conversations")) | ({"system": system[0]} if system else {})
        meta |= reasoning_fields(answer, reply.get("reasoning_content"))
        builder.add(
            {
                "instruction": turns[first_user]["content"],
                "input": "",
                "output": answer,
                "messages": turns,
                "source_row": row_no,
                "origin": origin,
                "meta": meta or None,
            }
        )


def _parse_table(
    frame: pd.DataFrame, mapping: dict[str, str] | None, builder: _RowBuilder, origin: str, first_line: int
) -> None:
    mapping = {k: v for k, v in (mapping or {}).items() if v} or {c: c for c in MAPPABLE if c in frame.columns}
    unknown = [k for k in mapping if k not in MAPPABLE]
    missing = [v for v in mapping.values() if v not in frame.columns]
    if unknown or missing or "instruction" not in mapping:
        why = (
            f"unknown target fields {unknown}"
            if unknown
            else f"columns {missing} not in the file"
            if missing
            else "no column mapped to 'instruction'"
        )
        raise InvalidInputError(
            [f"{builder.problems.file_name}: column mapping invalid: {why}; the file has columns {list(frame.columns)}"]
        )
    renamed = frame[list(mapping.values())].set_axis(list(mapping.keys()), axis=1)
    others = [c for c in frame.columns if c not in mapping.values()]
    for row_no, (record, extra) in enumerate(
        zip(renamed.to_dict("records"), frame[others].to_dict("records"), strict=True)
    ):
        record = {k: None if _is_missing(v) else v for k, v in record.items()}
        for key in ("input", "output", "task", "task_cluster"):
            if record.get(key) is not None and not isinstance(record[key], str):
                record[key] = str(record[key])
        if "tags" in record:
            record["tags"] = _tag_list(record["tags"])
        _simple_row(first_line + row_no, row_no, record, builder, origin)
        if builder.rows and builder.rows[-1]["source_row"] == row_no:
            clean = {k: _jsonable(v) for k, v in extra.items() if not _is_missing(v)}
            builder.rows[-1]["meta"] = clean or None


def _is_missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _tag_list(value: Any) -> Any:
    """A tags cell as a list: Parquet lists as they are, CSV text split on commas."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return value.tolist() if hasattr(value, "tolist") else value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays (Parquet list columns)
        return value.tolist()
    return value if isinstance(value, (str, int, float, bool, list, dict)) else str(value)


def _parse_flan_tsv(text: str, builder: _RowBuilder, origin: str, task: str) -> None:
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row_no, fields in enumerate(reader):
        line = row_no + 1
        if len(fields) != 3:
            builder.problems.add(
                line, f"expected 3 tab-separated fields (question, answer, rationale); got {len(fields)}"
            )
            continue
        question, answer, rationale = (f.replace("\\n", "\n").strip() for f in fields)
        record = {"instruction": question, "answer": answer, "rationale": rationale}
        if builder.text(line, record, "instruction", required=True) is None:
            continue
        if not answer:
            builder.problems.add(line, "answer field is empty")
            continue
        builder.add(
            {
                "instruction": question,
                "input": "",
                "output": f"{rationale} So the answer is {answer}.",
                "source_row": row_no,
                "origin": origin,
                "task": task,
                "task_cluster": "cot",
                "format": "cot",
                "meta": {"question": question, "answer": answer, "rationale": rationale},
            }
        )


def table_columns(data: bytes, file_name: str, fmt: str) -> list[str]:
    """Column names of a csv or parquet file, for the column-mapping UI."""
    if fmt == "parquet":
        try:
            return list(pq.ParquetFile(io.BytesIO(data)).schema_arrow.names)
        except Exception as err:
            raise InvalidInputError([f"{file_name}: not a readable Parquet file ({err})"]) from err
    if fmt == "csv":
        try:
            return list(pd.read_csv(io.StringIO(decode_utf8(data, file_name)), dtype=str, nrows=0).columns)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise InvalidInputError([f"{file_name}: malformed CSV ({err})"]) from err
    raise ValueError(f"only csv and parquet files have a column mapping; got format {fmt!r}")


def parse(
    data: bytes, file_name: str, fmt: str, *, mapping: dict[str, str] | None = None, origin: str | None = None
) -> pd.DataFrame:
    """Rows of a file as a DataFrame (columns as in store.examples.EXAMPLE_COLUMNS plus tags)."""
    if fmt not in FORMATS:
        raise InvalidInputError([f"{file_name}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}"])
    problems = _Problems(file_name)
    builder = _RowBuilder(problems)
    origin = origin or ("seed" if fmt == "selfinstruct-seed" else "imported")
    if fmt == "parquet":
        if not data:
            raise InvalidInputError([f"{file_name}: file is empty"])
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as err:
            raise InvalidInputError([f"{file_name}: not a readable Parquet file ({err})"]) from err
        _parse_table(frame, mapping, builder, origin, first_line=1)
    else:
        text = decode_utf8(data, file_name)
        if fmt == "csv":
            try:
                frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
                raise InvalidInputError([f"{file_name}: malformed CSV ({err})"]) from err
            _parse_table(frame, mapping, builder, origin, first_line=2)
        elif fmt == "flan-cot-tsv":
            _parse_flan_tsv(text, builder, origin, Path(file_name).stem.removesuffix("_train"))
        else:
            {
                "alpaca": _parse_alpaca,
                "selfinstruct-seed": _parse_seed,
                "jsonl": _parse_jsonl,
                "messages": _parse_messages,
            }[fmt](text, builder, origin)
    problems.raise_if_any()
    if not builder.rows:
        raise InvalidInputError([f"{file_name}: no rows found"])
    return pd.DataFrame(builder.rows)


def import_bytes(
    store: Store,
    data: bytes,
    file_name: str,
    fmt: str,
    *,
    source_name: str | None = None,
    mapping: dict[str, str] | None = None,
    origin: str | None = None,
    author: str | None = None,
) -> ImportResult:
    """Validate and import one file as one transaction; the store is unchanged on any error."""
    rows = parse(data, file_name, fmt, mapping=mapping, origin=origin)
    info = example_rows.SourceInfo(
        name=source_name or Path(file_name).stem,
        format=fmt,
        file_name=file_name,
        sha256=hashlib.sha256(data).hexdigest(),
        options={"mapping": mapping, "origin": origin},
        author=author or config.get("author"),
    )
    ids = example_rows.add_examples(store, rows, info)
    return ImportResult(source_id=example_rows.source_id_of(store, ids[0]), rows=len(ids), ids=ids)


def import_file(store: Store, path: str | Path, fmt: str | None = None, **kwargs: Any) -> ImportResult:
    """Import a file from disk; the format is guessed from its name when not given."""
    path = Path(path)
    fmt = fmt or guess_format(path.name)
    if fmt is None:
        raise InvalidInputError([f"{path.name}: cannot guess the format; pass one of {', '.join(FORMATS)}"])
    return import_bytes(store, path.read_bytes(), path.name, fmt, **kwargs)
