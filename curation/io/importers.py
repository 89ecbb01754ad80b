"""Parse instruction files into rows, validating everything before the store is touched.

Formats: alpaca (JSON array), selfinstruct-seed (JSONL with instances), jsonl (generic, one object per line),
messages (OpenAI `messages` or ShareGPT `conversations`, JSON array or JSONL, with tool calls and tools: see
`curation.io.chat`; `reasoning_content` and `<think>` kept as `meta.rationale` / `meta.answer`; an alpaca or jsonl
file whose rows are conversations is read as messages), csv and parquet (with a column mapping),
flan-cot-tsv (question, answer, rationale; literal `\\n` in fields). Every error names file, line and rule.
alpaca, jsonl, csv and parquet take a field mapping (curation/io/mapping.py: names or nested paths).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from curation import config
from curation.io import chat, tables
from curation.io import mapping as field_mapping
from curation.io.errors import MAX_ERRORS as MAX_ERRORS
from curation.io.errors import InvalidInputError, Problems, decode_utf8
from curation.io.json_text import At, JsonSyntaxError, json_array, json_lines
from curation.io.reasoning import reasoning_fields
from curation.store import Store
from curation.store import examples as example_rows

_SPACE = re.compile(r"[ \t\r\n\ufeff]*")
FORMATS = ("alpaca", "selfinstruct-seed", "jsonl", "messages", "csv", "parquet", "flan-cot-tsv")
MAPPABLE = field_mapping.MAPPABLE
MAPPED_FORMATS = ("alpaca", "jsonl", "csv", "parquet")
ALLOW_MISSING_OUTPUT = "allow rows without an output"  # the option's name in the page and (as a flag) the CLI


class AlreadyImportedError(InvalidInputError):
    """A file with the same sha256 was imported before; importing it again needs the user's confirmation."""

    def __init__(self, file_name: str, source_ids: list[int]) -> None:
        listed = ", ".join(f"#{i}" for i in source_ids)
        super().__init__(
            [
                f"{file_name}: this exact file (same sha256) was already imported as source {listed}; "
                "importing it again adds every row a second time (confirm to import it again)"
            ]
        )
        self.source_ids = source_ids


@dataclass(frozen=True)
class ImportResult:
    source_id: int
    rows: int
    ids: list[int]
    sha256: str = ""


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


class _RowBuilder:
    """Checks each record against the field rules and collects rows."""

    def __init__(self, problems: Problems, *, allow_missing_output: bool = True) -> None:
        self.problems = problems
        self.allow_missing_output = allow_missing_output
        self.max_bytes = int(config.get("max_field_bytes"))
        self.rows: list[dict[str, Any]] = []
        self.seen_ids: dict[str, int] = {}

    def text(self, at: At, record: dict, key: str, *, required: bool = False) -> str | None:
        value = record.get(key)
        if value is None:
            if required:
                self.problems.add(at, f"missing required field '{key}'")
            return None if required else ""
        if not isinstance(value, str):
            self.problems.add(at, f"field '{key}' must be a string; got {type(value).__name__}")
            return None
        if required and not value.strip():
            self.problems.add(at, f"field '{key}' is empty")
            return None
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            self.problems.add(
                at,
                f"field '{key}' is {size:,} bytes; the limit is {self.max_bytes:,} (INSTRUCT_CURATOR_MAX_FIELD_BYTES)",
            )
            return None
        return value

    def label(self, at: At, record: dict, key: str) -> str | None:
        """An optional name field (task, task_cluster): a string or absent; never coerced."""
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            self.problems.add(at, f"field '{key}' must be a string or null; got {type(value).__name__}")
            return None
        return value

    def output(self, at: At, record: dict) -> str | None:
        """The output field, required unless instruction-only rows were allowed."""
        if record.get("output") is None and not self.allow_missing_output:
            self.problems.add(at, f"missing required field 'output' (an instruction-only file: {ALLOW_MISSING_OUTPUT})")
            return None
        return self.text(at, record, "output")

    def check_id(self, at: At, record: dict) -> None:
        if record.get("id") is None:
            return
        key = str(record["id"])
        if key in self.seen_ids:
            self.problems.add(at, f"duplicate id {key!r} (first seen on {self.seen_ids[key]})")
        self.seen_ids.setdefault(key, str(at))

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


def _object(line: At, item: Any, builder: _RowBuilder) -> dict | None:
    if not isinstance(item, dict):
        builder.problems.add(line, f"expected a JSON object; got {type(item).__name__}")
        return None
    return item


def _extra(record: dict, known: tuple[str, ...]) -> dict:
    return {k: v for k, v in record.items() if k not in known}


def _simple_row(
    line: At, row_no: int, record: dict, builder: _RowBuilder, origin: str, extra: dict | None = None
) -> None:
    """One {instruction, input, output} row; `extra` (the unmapped fields of a mapped record) becomes its meta."""
    known = ("instruction", "input", "output", "task", "task_cluster", "tags")
    builder.check_id(line, record)
    values = {k: builder.text(line, record, k, required=k == "instruction") for k in ("instruction", "input")}
    values["output"] = builder.output(line, record)
    labels = {k: builder.label(line, record, k) for k in ("task", "task_cluster")}
    tags = _tags(line, record, builder)
    if (
        tags is None
        or any(v is None for v in values.values())
        or any(labels[k] is None and record.get(k) is not None for k in labels)
    ):
        return
    builder.add(
        {
            **values,
            "source_row": row_no,
            "origin": origin,
            **labels,
            "tags": tags,
            "meta": (_extra(record, known) if extra is None else extra) or None,
        }
    )


def _tags(line: At, record: dict, builder: _RowBuilder) -> list[str] | None:
    tags = record.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        builder.problems.add(line, "field 'tags' must be a list of strings")
        return None
    return tags


def _parse_alpaca(text: str, builder: _RowBuilder, origin: str) -> None:
    for line, item in json_array(text, builder.problems.add):
        row_no = line.row
        record = _object(line, item, builder)
        if record is not None:
            _simple_row(line, row_no, record, builder, origin)


def _parse_instances(line: At, row_no: int, record: dict, builder: _RowBuilder, origin: str) -> None:
    instruction = builder.text(line, record, "instruction", required=True)
    instances = record.get("instances")
    if not isinstance(instances, list) or not instances:
        builder.problems.add(line, "field 'instances' must be a non-empty list of {input, output} objects")
        return
    builder.check_id(line, record)
    task = builder.label(line, record, "name")
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
                "task": task,
                "is_classification": is_cls,
                "meta": meta,
            }
        )


def _parse_seed(text: str, builder: _RowBuilder, origin: str) -> None:
    for line, item in json_lines(text, builder.problems.add):
        row_no = line.row
        record = _object(line, item, builder)
        if record is not None:
            _parse_instances(line, row_no, record, builder, origin)


def _parse_jsonl(text: str, builder: _RowBuilder, origin: str) -> None:
    for line, item in json_lines(text, builder.problems.add):
        row_no = line.row
        record = _object(line, item, builder)
        if record is None:
            continue
        if "instances" in record:
            _parse_instances(line, row_no, record, builder, origin)
        else:
            _simple_row(line, row_no, record, builder, origin)


def _chat_row(line: At, record: dict, builder: _RowBuilder, origin: str) -> None:
    """One conversation row (OpenAI or ShareGPT layout); unknown fields go to meta, to be written back on export."""
    try:
        turns, tools = chat.read_conversation(record)
    except chat.ChatError as err:
        builder.problems.add(line, str(err))
        return
    for index, turn in enumerate(turns):
        size = len(turn["content"].encode("utf-8", "surrogatepass"))
        if size > builder.max_bytes:
            limit = builder.max_bytes
            builder.problems.add(line, f"messages[{index}] content is {size:,} bytes; the limit is {limit:,}")
            return
    builder.check_id(line, record)
    instruction, answer, reply = chat.first_exchange(turns)
    meta = _extra(record, (*chat.ROW_KEYS, "task", "task_cluster", "tags"))
    # a row's own field wins over the derived one (export writes back only what differs from the derivation)
    meta |= {k: v for k, v in reasoning_fields(answer, reply.get("reasoning_content")).items() if k not in meta}
    labels = {k: builder.label(line, record, k) for k in ("task", "task_cluster")}
    tags = _tags(line, record, builder)
    if tags is None or any(labels[k] is None and record.get(k) is not None for k in labels):
        return
    builder.add(
        {
            "instruction": instruction,
            "input": "",
            "output": answer,
            "messages": turns,
            "tools": tools,
            "source_row": line.row,
            "origin": origin,
            **labels,
            "tags": tags,
            "meta": meta or None,
        }
    )


def _records(text: str, builder: _RowBuilder) -> Iterator[tuple[At, Any]]:
    """Items of a JSON array file, or of a JSON Lines file (whichever the text is)."""
    if text.startswith("[", _first_char(text)):
        return json_array(text, builder.problems.add)
    return json_lines(text, builder.problems.add)


def _parse_messages(text: str, builder: _RowBuilder, origin: str) -> None:
    for line, item in _records(text, builder):
        record = _object(line, item, builder)
        if record is not None:
            _chat_row(line, record, builder, origin)


def _first_char(text: str, start: int = 0) -> int:
    """Index of the first non-whitespace character at or after `start` (no copy of a large text)."""
    return _SPACE.match(text, start).end()


def _looks_like_chat(text: str) -> bool:
    """Whether the first record of a JSON array or JSON Lines text is a conversation (chat.is_chat_record)."""
    start = _first_char(text)
    try:
        if text.startswith("[", start):
            item, _ = json.JSONDecoder().raw_decode(text, _first_char(text, start + 1))
        else:
            end = text.find("\n", start)
            item = json.loads(text[start : end if end >= 0 else len(text)])
    except (ValueError, RecursionError):
        return False
    return chat.is_chat_record(item)


def _parse_table(
    frame: pd.DataFrame,
    mapping: dict[str, str] | None,
    builder: _RowBuilder,
    origin: str,
    lines: list[int] | None,
    allow_missing_output: bool,
) -> None:
    """Rows of a table; `lines` holds each row's first line in a CSV file (None for Parquet, which has rows only)."""
    name = builder.problems.file_name
    mapping = field_mapping.checked(mapping, name) or {c: c for c in MAPPABLE if c in frame.columns}
    missing = [v for v in mapping.values() if v not in frame.columns and v.split(".")[0] not in frame.columns]
    if missing or "instruction" not in mapping:
        why = f"columns {missing} not in the file" if missing else "no column mapped to 'instruction'"
        raise InvalidInputError([f"{name}: column mapping invalid: {why}; the file has columns {list(frame.columns)}"])
    if "messages" not in frame.columns:  # a chat row's reply is in its conversation, not an output column
        _check_output_mapped(mapping, name, allow_missing_output)
    for row_no, row in enumerate(frame.to_dict("records")):
        record, extra = field_mapping.remap(row, mapping)
        record = {k: None if tables.is_missing(v) else v for k, v in record.items()}
        if _table_chat_row(At(lines[row_no] if lines else None, row_no), record, extra, builder, origin):
            continue
        if "tags" in record:
            record["tags"] = tables.tag_list(record["tags"])
        clean = {k: tables.jsonable(v) for k, v in extra.items() if not tables.is_missing(v)}
        _simple_row(At(lines[row_no] if lines else None, row_no), row_no, record, builder, origin, extra=clean)


def _check_output_mapped(mapping: dict[str, str], file_name: str, allow_missing_output: bool) -> None:
    """Nothing mapped to output would import every row with an empty output: only as an explicit choice."""
    if "output" not in mapping and not allow_missing_output:
        raise InvalidInputError(
            [
                f"{file_name}: no field is mapped to 'output', so every row would get an empty output; "
                f"map a field to output, or {ALLOW_MISSING_OUTPUT} (an instruction-only file)"
            ]
        )


def _parse_mapped_json(
    text: str, fmt: str, mapping: dict[str, str], builder: _RowBuilder, origin: str, allow_missing_output: bool
) -> None:
    """alpaca or jsonl records whose example fields are found through `mapping`."""
    name = builder.problems.file_name
    _check_output_mapped(mapping, name, allow_missing_output)
    items = json_array(text, builder.problems.add) if fmt == "alpaca" else json_lines(text, builder.problems.add)
    records = [(line, record) for line, item in items if (record := _object(line, item, builder)) is not None]
    absent = field_mapping.unresolved([r for _, r in records], mapping)
    if records and absent:
        fields = field_mapping.field_paths(r for _, r in records[:50])
        raise InvalidInputError(
            [f"{name}: field mapping invalid: no record has {absent}; the records have {fields[:40]}"]
        )
    for line, record in records:
        mapped, extra = field_mapping.remap(record, mapping)
        _simple_row(line, line.row, mapped, builder, origin, extra=extra)


def json_field_paths(data: bytes, file_name: str, fmt: str, sample: int = 200) -> list[str]:
    """Field paths seen in the first `sample` records of an alpaca or jsonl file (for choosing a mapping)."""
    text = decode_utf8(data, file_name)
    items = json_array(text, lambda *_: None) if fmt == "alpaca" else json_lines(text, lambda *_: None)
    records = []
    try:
        for _, item in items:
            records.append(item)
            if len(records) >= sample:
                break
    except JsonSyntaxError:
        pass  # parse() reports it with its line
    return field_mapping.field_paths(r for r in records if isinstance(r, dict))


def _table_chat_row(at: At, record: dict, extra: dict, builder: _RowBuilder, origin: str) -> bool:
    """A table row with a `messages` column (JSON text, as the Parquet export writes it) is read as a conversation."""
    if tables.is_missing(extra.get("messages")):
        return False
    fields = {k: tables.jsonable(v) for k, v in extra.items() if not tables.is_missing(v)}
    for key in ("messages", "tools"):
        if isinstance(fields.get(key), str):
            try:
                fields[key] = json.loads(fields[key])
            except ValueError as err:
                builder.problems.add(at, f"column '{key}' is not valid JSON ({err})")
                return True
    labels = {k: v for k, v in record.items() if k in ("task", "task_cluster", "tags", "id")}
    if "tags" in labels:
        labels["tags"] = tables.tag_list(labels["tags"])
    _chat_row(at, fields | labels, builder, origin)
    return True


def _parse_flan_tsv(text: str, builder: _RowBuilder, origin: str, task: str) -> None:
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row_no, fields in enumerate(reader):
        line = At(row_no + 1, row_no)
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


table_columns = tables.table_columns


def parse(
    data: bytes,
    file_name: str,
    fmt: str,
    *,
    mapping: dict[str, str] | None = None,
    origin: str | None = None,
    allow_missing_output: bool = False,
) -> pd.DataFrame:
    """Rows of a file as a DataFrame (columns as in store.examples.EXAMPLE_COLUMNS plus tags).

    An Alpaca row without `output` is an error unless `allow_missing_output` (an instruction-only file).
    """
    if fmt not in FORMATS:
        raise InvalidInputError([f"{file_name}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}"])
    problems = Problems(file_name)
    builder = _RowBuilder(problems, allow_missing_output=allow_missing_output or fmt != "alpaca")
    origin = origin or ("seed" if fmt == "selfinstruct-seed" else "imported")
    if mapping and any(mapping.values()) and fmt not in MAPPED_FORMATS:
        raise InvalidInputError(
            [f"{file_name}: a field mapping applies to {', '.join(MAPPED_FORMATS)} files; {fmt} has a fixed layout"]
        )
    if fmt in ("csv", "parquet"):
        frame, lines = tables.read_table(data, file_name, fmt)
        _parse_table(frame, mapping, builder, origin, lines, allow_missing_output)
    else:
        text = decode_utf8(data, file_name)
        json_mapping = field_mapping.checked(mapping, file_name)
        if json_mapping:
            try:
                _parse_mapped_json(text, fmt, json_mapping, builder, origin, allow_missing_output)
            except JsonSyntaxError as err:
                problems.add(err.at, err.message)
        elif fmt == "flan-cot-tsv":
            _parse_flan_tsv(text, builder, origin, Path(file_name).stem.removesuffix("_train"))
        else:
            if fmt in ("alpaca", "jsonl") and _looks_like_chat(text):
                fmt = "messages"  # a ShareGPT / OpenAI chat file named .json or .jsonl
            parser = {
                "alpaca": _parse_alpaca,
                "selfinstruct-seed": _parse_seed,
                "jsonl": _parse_jsonl,
                "messages": _parse_messages,
            }[fmt]
            try:
                parser(text, builder, origin)
            except JsonSyntaxError as err:
                problems.add(err.at, err.message)
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
    allow_missing_output: bool = False,
    reimport: bool = False,
) -> ImportResult:
    """Validate and import one file as one transaction; the store is unchanged on any error.

    A file whose sha256 is already in `sources` is refused (AlreadyImportedError) unless `reimport`.
    """
    rows = parse(data, file_name, fmt, mapping=mapping, origin=origin, allow_missing_output=allow_missing_output)
    sha256 = hashlib.sha256(data).hexdigest()
    earlier = example_rows.sources_with_sha256(store, sha256)
    if earlier and not reimport:
        raise AlreadyImportedError(file_name, earlier)
    info = example_rows.SourceInfo(
        name=source_name or Path(file_name).stem,
        format=fmt,
        file_name=file_name,
        sha256=sha256,
        options={"mapping": mapping, "origin": origin, "allow_missing_output": allow_missing_output},
        author=author or config.get("author"),
    )
    ids = example_rows.add_examples(store, rows, info)
    return ImportResult(source_id=example_rows.source_id_of(store, ids[0]), rows=len(ids), ids=ids, sha256=sha256)


def import_file(store: Store, path: str | Path, fmt: str | None = None, **kwargs: Any) -> ImportResult:
    """Import a file from disk; the format is guessed from its name when not given."""
    path = Path(path)
    fmt = fmt or guess_format(path.name)
    if fmt is None:
        raise InvalidInputError([f"{path.name}: cannot guess the format; pass one of {', '.join(FORMATS)}"])
    return import_bytes(store, path.read_bytes(), path.name, fmt, **kwargs)


def rows_without_output(rows: pd.DataFrame) -> int:
    """How many parsed rows have an empty output (shown in the import preview)."""
    return int((rows["output"].fillna("") == "").sum()) if "output" in rows else len(rows)
