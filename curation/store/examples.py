"""SQL for reading and adding examples: filters, pages, counts, statistics, bulk insert."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from curation.filters import SORTABLE, ExampleFilter
from curation.store import team
from curation.store.core import Store

TEXT_FIELDS = ("instruction", "input", "output")
EXAMPLE_COLUMNS = (
    "source_row",
    "origin",
    "instruction",
    "input",
    "output",
    "messages",
    "tools",
    "task",
    "task_cluster",
    "template_id",
    "template_version",
    "format",
    "is_classification",
    "status",
    "status_reason",
    "provenance",
    "meta",
)
_LENGTH = {
    "instruction": "length(e.instruction)",
    "input": "length(e.input)",
    "output": "length(e.output)",
    "total": "(length(e.instruction) + length(e.input) + length(e.output))",
}
_SORT = {
    "id": "e.id",
    "instruction": "e.instruction",
    "status": "e.status",
    "origin": "e.origin",
    "task": "e.task",
    "source": "e.source_id",
    "length": _LENGTH["total"],
    "updated_at": "e.updated_at",
}


@dataclass(frozen=True)
class SourceInfo:
    """Where a batch of rows came from (recorded once per import or generation run)."""

    name: str
    format: str
    file_name: str | None = None
    sha256: str | None = None
    options: dict[str, Any] | None = None
    author: str | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def where_clause(flt: ExampleFilter) -> tuple[str, list[Any]]:
    """SQL condition and parameters for a filter over `examples AS e`."""
    conds: list[str] = []
    params: list[Any] = []
    if flt.search.strip():
        pattern = f"%{_escape_like(flt.search.strip())}%"
        conds.append(
            "(e.instruction ILIKE ? ESCAPE '\\' OR e.input ILIKE ? ESCAPE '\\' OR e.output ILIKE ? ESCAPE '\\')"
        )
        params += [pattern] * 3
    for values, column in (
        (flt.origins, "e.origin"),
        (flt.statuses, "e.status"),
        (flt.tasks, "e.task"),
        (flt.clusters, "e.task_cluster"),
        (flt.formats, "e.format"),
    ):
        if values:
            conds.append(f"list_contains(?, {column})")
            params.append(list(values))
    if flt.ids:
        conds.append("list_contains(?, e.id)")
        params.append([int(i) for i in flt.ids])
    if flt.sources:
        conds.append("e.source_id IN (SELECT id FROM sources WHERE list_contains(?, name))")
        params.append(list(flt.sources))
    if flt.tags:
        conds.append("e.id IN (SELECT example_id FROM example_tags WHERE list_contains(?, tag))")
        params.append(list(flt.tags))
    if flt.untagged:
        conds.append("e.id NOT IN (SELECT example_id FROM example_tags WHERE list_contains(?, tag))")
        params.append(list(flt.untagged))
    for clause in flt.signal_clauses():
        conds.append(
            "e.id IN (SELECT example_id FROM signals WHERE name = ? AND variant = coalesce(?, variant)"
            " AND (score >= ? OR ? IS NULL) AND (score <= ? OR ? IS NULL)"
            " AND (len(?) = 0 OR list_has_any(?, string_split(label, ','))))"  # "email,phone": either label matches
        )
        labels = list(clause.labels)
        params += [clause.name, clause.variant, clause.min, clause.min, clause.max, clause.max, labels, labels]
    length = _LENGTH[flt.length_field]
    if flt.min_length is not None:
        conds.append(f"{length} >= ?")
        params.append(int(flt.min_length))
    if flt.max_length is not None:
        conds.append(f"{length} <= ?")
        params.append(int(flt.max_length))
    return (" AND ".join(conds) if conds else "TRUE"), params


def count(store: Store, flt: ExampleFilter | None = None) -> int:
    """Number of examples matching the filter."""
    where, params = where_clause(flt or ExampleFilter())
    return int(store.query_value(f"SELECT count(*) FROM examples e WHERE {where}", params))


def page(
    store: Store,
    flt: ExampleFilter | None = None,
    *,
    sort: str = "id",
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> pd.DataFrame:
    """One page of matching examples, with source name and tags; only `limit` rows leave DuckDB."""
    if sort not in SORTABLE:
        raise ValueError(f"sort must be one of {SORTABLE}; got {sort!r}")
    where, params = where_clause(flt or ExampleFilter())
    direction = "DESC" if descending else "ASC"
    # Only ids and the sort key go through filter, sort and offset; the wide columns are read for the page alone.
    sql = f"""
        WITH picked AS (
            SELECT e.id, {_SORT[sort]} AS _key FROM examples e WHERE {where}
            ORDER BY _key {direction}, e.id {direction} LIMIT ? OFFSET ?
        ),
        page AS (
            SELECT e.id, e.source_id, e.source_row, e.origin, e.status, e.task, e.task_cluster, e.format,
                   e.instruction, e.input, e.output, e.version, e.updated_at, {_LENGTH["total"]} AS length, p._key
            FROM examples e JOIN picked p ON p.id = e.id
        ),
        tags AS (
            SELECT example_id, string_agg(tag, ', ' ORDER BY tag) AS tags
            FROM example_tags WHERE example_id IN (SELECT id FROM picked) GROUP BY example_id
        )
        SELECT p.id, p.instruction, p.input, p.output, p.status, p.origin, s.name AS source, p.task,
               p.task_cluster, p.format, coalesce(t.tags, '') AS tags, p.length, p.source_row, p.version,
               p.updated_at
        FROM page p LEFT JOIN sources s ON s.id = p.source_id LEFT JOIN tags t ON t.example_id = p.id
        ORDER BY p._key {direction}, p.id {direction}
    """
    return store.query_df(sql, [*params, int(limit), int(offset)])


def position(
    store: Store, example_id: int, flt: ExampleFilter | None = None, *, sort: str = "id", descending: bool = False
) -> int | None:
    """0-based place of a row among the filter's matches in `page`'s order; None when it does not match."""
    if sort not in SORTABLE:
        raise ValueError(f"sort must be one of {SORTABLE}; got {sort!r}")
    where, params = where_clause(flt or ExampleFilter())
    direction = "DESC" if descending else "ASC"
    value = store.query_value(
        f"SELECT n FROM (SELECT e.id, row_number() OVER (ORDER BY {_SORT[sort]} {direction}, e.id {direction}) - 1"
        f" AS n FROM examples e WHERE {where}) WHERE id = ?",
        [*params, int(example_id)],
    )
    return None if value is None else int(value)


def get(store: Store, example_id: int) -> dict[str, Any] | None:
    """One example with its source name and tag list, or None."""
    rows = store.query_dicts(
        "SELECT e.*, s.name AS source FROM examples e JOIN sources s ON s.id = e.source_id WHERE e.id = ?",
        [int(example_id)],
    )
    if not rows:
        return None
    row = rows[0]
    row["tags"] = tags_of(store, example_id)
    for key in ("provenance", "meta", "messages", "tools"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def source_id_of(store: Store, example_id: int) -> int | None:
    """The source an example was imported or generated with."""
    value = store.query_value("SELECT source_id FROM examples WHERE id = ?", [int(example_id)])
    return None if value is None else int(value)


def tags_of(store: Store, example_id: int) -> list[str]:
    rows = store.query_rows("SELECT tag FROM example_tags WHERE example_id = ? ORDER BY tag", [int(example_id)])
    return [r[0] for r in rows]


def fetch(store: Store, flt: ExampleFilter | None = None, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """All matching rows (for export and algorithms), ordered by id; columns from `examples` plus `source`."""
    where, params = where_clause(flt or ExampleFilter())
    cols = ", ".join(f"e.{c}" for c in columns) if columns else "e.*"
    return store.query_df(
        f"SELECT {cols}, s.name AS source FROM examples e JOIN sources s ON s.id = e.source_id "
        f"WHERE {where} ORDER BY e.id",
        params,
    )


def fetch_table(
    store: Store, flt: ExampleFilter | None, columns: tuple[str, ...], *, output_chars: bool = False
) -> pa.Table:
    """Matching rows ordered by id as an Arrow table (columnar: no Python object per value, for very many rows):
    `columns` of examples, `source` (dictionary-encoded) and, when asked, `output_chars` (characters of the
    output, 0 when empty)."""
    known = ("id", "created_at", *EXAMPLE_COLUMNS)
    bad = set(columns) - set(known)
    if bad:
        raise ValueError(f"unknown example columns {sorted(bad)}; known: {', '.join(known)}")
    where, params = where_clause(flt or ExampleFilter())
    cols = ", ".join(f"e.{c}" for c in columns)
    extra = ", coalesce(length(e.output), 0) AS output_chars" if output_chars else ""
    table = store.query_arrow(
        f"SELECT {cols}{extra}, s.name AS source FROM examples e JOIN sources s ON s.id = e.source_id "
        f"WHERE {where} ORDER BY e.id",
        params,
    )
    position = table.schema.get_field_index("source")
    return table.set_column(position, "source", pc.dictionary_encode(table.column("source")))


def tags_for(store: Store, ids: list[int]) -> pd.DataFrame:
    """(example_id, tag, source, score) for the given examples."""
    frame = pd.DataFrame({"example_id": pd.Series(ids, dtype="int64")})
    with store.registered("_tag_ids", frame) as cur:
        return cur.execute(
            "SELECT t.example_id, t.tag, t.source, t.score FROM example_tags t "
            "JOIN _tag_ids i ON i.example_id = t.example_id ORDER BY t.example_id, t.tag"
        ).df()


def distinct_values(store: Store, column: str) -> list[str]:
    """Distinct non-null values of a grouping column (origin, status, task, task_cluster, format, source, tag)."""
    queries = {
        "source": "SELECT name FROM sources GROUP BY name ORDER BY name",
        "tag": "SELECT tag FROM example_tags GROUP BY tag ORDER BY tag",
    }
    allowed = ("origin", "status", "task", "task_cluster", "format")
    if column in queries:
        sql = queries[column]
    elif column in allowed:
        sql = f"SELECT {column} FROM examples WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1"
    else:
        raise ValueError(f"column must be one of {allowed + tuple(queries)}; got {column!r}")
    return [r[0] for r in store.query_rows(sql)]


def counts_by(store: Store, column: str, flt: ExampleFilter | None = None) -> pd.DataFrame:
    """Row counts per value of a grouping column: DataFrame(value, count), largest first."""
    where, params = where_clause(flt or ExampleFilter())
    if column == "source":
        sql = (
            "SELECT s.name AS value, count(*) AS count FROM examples e JOIN sources s ON s.id = e.source_id "
            f"WHERE {where} GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    elif column == "tag":
        sql = (
            "SELECT t.tag AS value, count(*) AS count FROM example_tags t JOIN examples e ON e.id = t.example_id "
            f"WHERE {where} GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    elif column in ("origin", "status", "task", "task_cluster", "format"):
        sql = (
            f"SELECT coalesce(e.{column}, '(none)') AS value, count(*) AS count FROM examples e "
            f"WHERE {where} GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    else:
        raise ValueError(f"cannot group by {column!r}")
    return store.query_df(sql, params)


def length_histogram(
    store: Store, field: str = "total", bins: int = 30, flt: ExampleFilter | None = None
) -> pd.DataFrame:
    """Equal-width histogram of character lengths up to the 99th percentile: (bin_start, bin_end, count)."""
    where, params = where_clause(flt or ExampleFilter())
    length = _LENGTH[field]
    top = store.query_value(f"SELECT quantile_disc({length}, 0.99) FROM examples e WHERE {where}", params)
    if top is None:
        return pd.DataFrame(columns=["bin_start", "bin_end", "count"])
    width = max(1, -(-int(top) // bins))
    df = store.query_df(
        f"SELECT least({length} // ?, ?) AS bin, count(*) AS count FROM examples e WHERE {where} GROUP BY 1 ORDER BY 1",
        [width, bins, *params],
    )
    df["bin_start"] = df["bin"] * width
    df["bin_end"] = df["bin_start"] + width
    return df[["bin_start", "bin_end", "count"]]


def add_source(store: Store, info: SourceInfo, row_count: int) -> int:
    """Record a source (call inside the import transaction); returns its id."""
    source_id = store.next_id("seq_sources")
    store.execute(
        "INSERT INTO sources (id, name, file_name, format, sha256, row_count, options, author) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source_id,
            info.name,
            info.file_name,
            info.format,
            info.sha256,
            row_count,
            json.dumps(info.options or {}),
            info.author,
        ],
    )
    return source_id


def sources_with_sha256(store: Store, sha256: str) -> list[int]:
    """Ids of the sources imported from a file with this sha256 (oldest first)."""
    return [r[0] for r in store.query_rows("SELECT id FROM sources WHERE sha256 = ? ORDER BY id", [sha256])]


def list_sources(store: Store) -> pd.DataFrame:
    return store.query_df(
        "SELECT s.*, (SELECT count(*) FROM examples e WHERE e.source_id = s.id) AS examples "
        "FROM sources s ORDER BY s.id"
    )


def add_examples(store: Store, rows: pd.DataFrame, info: SourceInfo) -> list[int]:
    """Insert rows as one source in one transaction; returns the new ids in row order.

    `rows` needs `instruction`; other EXAMPLE_COLUMNS are optional. JSON columns take dicts/lists.
    An optional `tags` column holds lists of tag names (recorded with source 'import').
    """
    team.authorize(store, "import")
    frame = _normalise(rows)
    with store.transaction():
        source_id = add_source(store, info, len(frame))
        start = store.next_id("seq_examples")
        if len(frame) > 1:
            store.execute("SELECT setval('seq_examples', ?)", [start + len(frame) - 1])
        frame.insert(0, "id", range(start, start + len(frame)))
        frame.insert(1, "source_id", source_id)
        tags = frame.pop("tags")
        for col in TEXT_FIELDS:
            frame[f"orig_{col}"] = frame[col]
        store.insert_df("examples", frame)
        tag_rows = [(i, t) for i, ts in zip(frame["id"], tags, strict=True) for t in dict.fromkeys(ts or [])]
        if tag_rows:
            store.insert_df(
                "example_tags",
                pd.DataFrame(tag_rows, columns=["example_id", "tag"]).assign(source="import"),
            )
    return frame["id"].tolist()


def _normalise(rows: pd.DataFrame) -> pd.DataFrame:
    if "instruction" not in rows:
        raise ValueError("rows need an 'instruction' column")
    frame = pd.DataFrame(index=range(len(rows)))
    for col in EXAMPLE_COLUMNS:
        if col in rows:
            frame[col] = rows[col].to_numpy()
    for col in TEXT_FIELDS:
        frame[col] = frame[col].fillna("").astype(str) if col in frame else ""
    if "source_row" not in frame:
        frame["source_row"] = range(len(frame))
    frame["origin"] = frame["origin"].fillna("imported") if "origin" in frame else "imported"
    frame["status"] = frame["status"].fillna("pending") if "status" in frame else "pending"
    for col in ("messages", "tools", "provenance", "meta"):
        if col in frame:
            frame[col] = [None if v is None else json.dumps(v, ensure_ascii=False) for v in frame[col]]
    tags = rows["tags"].tolist() if "tags" in rows else [None] * len(frame)
    # rows built from dicts with and without 'tags' carry NaN for the missing ones
    frame["tags"] = [list(t) if isinstance(t, (list, tuple)) or hasattr(t, "tolist") else None for t in tags]
    return frame


def duplicate_rows(store: Store, total: int, *, source_name: str = "synthetic copies") -> int:
    """Grow the store to `total` rows with copies of the existing rows (for benchmarks); returns rows added.

    Copies cycle through the existing rows in id order, as one new source, and spread origin and status
    so that filters select realistic fractions.
    """
    have = count(store)
    need = int(total) - have
    if need <= 0 or have == 0:
        return 0
    with store.transaction():
        source_id = add_source(store, SourceInfo(name=source_name, format="synthetic"), need)
        start = store.next_id("seq_examples")
        store.execute("SELECT setval('seq_examples', ?)", [start + need - 1])
        store.execute(
            """
            INSERT INTO examples (id, source_id, source_row, origin, instruction, input, output, orig_instruction,
                                  orig_input, orig_output, task, task_cluster, format, status)
            SELECT ? + g.i, ?, g.i, ['imported', 'imported', 'generated', 'templated'][1 + g.i % 4],
                   e.instruction, e.input, e.output, e.instruction, e.input, e.output, e.task, e.task_cluster,
                   e.format, ['pending', 'pending', 'approved', 'rejected', 'duplicate'][1 + (hash(g.i) % 5)::BIGINT]
            FROM range(?) g(i)
            JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS k, * FROM examples) e ON e.k = g.i % ?
            """,
            [start, source_id, need, have],
        )
    return need
