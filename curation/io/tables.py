"""Reading CSV and Parquet files strictly (ragged rows and binary columns are errors), and their cells as values."""

from __future__ import annotations

import csv
import io
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.errors import MAX_ERRORS, InvalidInputError, decode_utf8
from curation.io.json_text import At


class TableError(ValueError):
    """The table breaks a rule; `problems` lists (At, message) pairs."""

    def __init__(self, problems: list[tuple[At | None, str]]) -> None:
        super().__init__(problems[0][1])
        self.problems = problems


def read_csv(text: str, max_problems: int = 20) -> tuple[pd.DataFrame, list[int]]:
    """(cells as strings, first line of each row): every row must have as many fields as the header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as err:
        raise TableError([(At(1), f"malformed CSV header ({err or 'no header row'})")]) from err
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise TableError([(At(1), f"the header names column(s) {repeated} more than once; rename them")])
    rows, lines, problems = [], [], []
    start = reader.line_num + 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields:
                continue
            if len(fields) != len(header):
                problems.append(
                    (
                        At(line, len(rows) + len(problems)),
                        f"{len(fields)} fields, but the header has {len(header)}; quote fields that contain commas",
                    )
                )
                if len(problems) >= max_problems:
                    break
                continue
            rows.append(fields)
            lines.append(line)
    except csv.Error as err:
        problems.append((At(start), f"malformed CSV ({err})"))
    if problems:
        raise TableError(problems)
    return pd.DataFrame(rows, columns=header, dtype=object), lines


def csv_header(text: str) -> list[str]:
    """Column names of a CSV file."""
    try:
        return next(csv.reader(io.StringIO(text, newline="")))
    except (StopIteration, csv.Error) as err:
        raise TableError([(At(1), f"malformed CSV header ({err or 'no header row'})")]) from err


def parquet_columns(data: bytes) -> list[str]:
    """Column names of a Parquet file."""
    return list(pq.ParquetFile(io.BytesIO(data)).schema_arrow.names)


def read_parquet(data: bytes) -> pd.DataFrame:
    """Cells of a Parquet file; binary columns are refused (their bytes would be stored as a Python repr)."""
    table = pq.read_table(io.BytesIO(data))
    binary = [
        f.name
        for f in table.schema
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) or pa.types.is_fixed_size_binary(f.type)
    ]
    if binary:
        raise TableError(
            [(None, f"column(s) {binary} hold binary data, not text; decode them to UTF-8 strings or drop them")]
        )
    return table.to_pandas()


def is_missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def tag_list(value: Any) -> Any:
    """A tags cell as a list: Parquet lists as they are, CSV text split on commas."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return value.tolist() if hasattr(value, "tolist") else value


def jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays (Parquet list columns)
        return value.tolist()
    return value if isinstance(value, (str, int, float, bool, list, dict)) else str(value)


def table_columns(data: bytes, file_name: str, fmt: str) -> list[str]:
    """Column names of a csv or parquet file, for the column-mapping UI."""
    if fmt == "parquet":
        try:
            return parquet_columns(data)
        except Exception as err:
            raise InvalidInputError([f"{file_name}: not a readable Parquet file ({err})"]) from err
    if fmt == "csv":
        try:
            return csv_header(decode_utf8(data, file_name))
        except TableError as err:
            raise table_error(file_name, err) from err
    raise ValueError(f"only csv and parquet files have a column mapping; got format {fmt!r}")


def table_error(file_name: str, err: TableError) -> InvalidInputError:
    return InvalidInputError(
        [f"{file_name} {at}: {message}" if at else f"{file_name}: {message}" for at, message in err.problems]
    )


def read_table(data: bytes, file_name: str, fmt: str) -> tuple[pd.DataFrame, list[int] | None]:
    try:
        if fmt == "csv":
            return read_csv(decode_utf8(data, file_name), MAX_ERRORS)
        if not data:
            raise InvalidInputError([f"{file_name}: file is empty"])
        try:
            return read_parquet(data), None
        except TableError:
            raise
        except Exception as err:
            raise InvalidInputError([f"{file_name}: not a readable Parquet file ({err})"]) from err
    except TableError as err:
        raise table_error(file_name, err) from err
