"""Connection, transactions and migrations for the DuckDB system of record."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

_LOCK_PID = re.compile(r"PID (\d+)")


class StoreAccessError(RuntimeError):
    """The database cannot be opened or written (a folder, not DuckDB, read-only, disk full); says what to do."""


class StoreLockedError(StoreAccessError):
    """Another process holds the DuckDB file."""


class ConflictError(RuntimeError):
    """A write was based on a version of a row that has since changed."""

    def __init__(self, message: str, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.current = current or {}


def quote_ident(name: str) -> str:
    """Quote a SQL identifier; the only way identifiers enter SQL text."""
    return '"' + name.replace('"', '""') + '"'


def _locked_message(path: Path, err: Exception) -> str:
    pid = _LOCK_PID.search(str(err))
    holder = f"process {pid.group(1)}" if pid else "another process"
    return f"database {path} is locked by {holder} (probably the running app); stop it, or pass --db with another file"


_OS_CAUSES = {
    "No space left on device": "the disk is full (No space left on device); free some space and try again",
    "Read-only file system": "the file system is read-only; pass --db with a file on a writable disk",
    "Permission denied": "permission denied; check the file's and its folder's permissions, or pass --db",
}


def _root_cause(err: BaseException) -> str:
    """The messages of an error and every error it was raised from or during (DuckDB hides the OS cause there)."""
    texts, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        texts.append(str(err))
        err = err.__cause__ or err.__context__
    return " | ".join(texts)


def explain(path: Path, err: BaseException, doing: str) -> StoreAccessError | None:
    """A one-line StoreAccessError for an OS-level failure behind a DuckDB error, or None if there is none."""
    text = _root_cause(err)
    for cause, advice in _OS_CAUSES.items():
        if cause in text:
            return StoreAccessError(f"cannot {doing} database {path}: {advice}")
    return None


def _raise_explained(path: Path, err: BaseException) -> None:
    """Re-raise `err`, as a StoreAccessError when an OS-level cause explains it (call inside `except`)."""
    friendly = explain(path, err, "write to")
    if friendly is not None and isinstance(err, Exception):
        raise friendly from err
    raise err


def _open_error(path: Path, err: Exception, read_only: bool) -> StoreAccessError:
    text = str(err)
    if "lock" in text.lower():
        return StoreLockedError(_locked_message(path, err))
    if path.is_dir():
        return StoreAccessError(
            f"database {path} is a folder; pass --db with a file path such as {path / 'curator.duckdb'}"
        )
    if "not a valid DuckDB database" in text:
        return StoreAccessError(f"{path} is not a DuckDB database file; pass --db with a .duckdb file or a new path")
    if read_only and "does not exist" in text:
        return StoreAccessError(
            f"database {path} does not exist; import a file first, or pass --db with an existing one"
        )
    return explain(path, err, "open") or StoreAccessError(f"cannot open database {path}: {text.splitlines()[0]}")


class Store:
    """One DuckDB database: a connection per thread, migrations applied on open."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = duckdb.connect(str(self.path), read_only=read_only)
        except (duckdb.Error, OSError) as err:
            raise _open_error(self.path, err, read_only) from err
        self._local = threading.local()
        self._local.cursor = self._conn
        self._write_lock = threading.RLock()
        if not read_only:
            try:
                self.migrate()
            except BaseException:
                self._conn.close()
                raise

    # -- connections -------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB connections are not shared across threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            self._local.cursor = cur
        return cur

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- verbs -------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> int | None:
        """Run a statement to completion; returns the affected-row count of DML statements."""
        try:
            rows = self.cursor().execute(sql, params or []).fetchall()
        except duckdb.Error as err:
            _raise_explained(self.path, err)
        return rows[0][0] if rows and len(rows[0]) == 1 and isinstance(rows[0][0], int) else None

    def query_df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        return self.cursor().execute(sql, params or []).df()

    def query_arrow(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """A query's result as an Arrow table: columnar, no Python object per value (for very many rows)."""
        return self.cursor().sql(sql, params=params or None).to_arrow_table()  # no DB-API copy

    def query_rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        return self.cursor().execute(sql, params or []).fetchall()

    def query_value(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        # fetchall, not fetchone: duckdb 2.0 refuses new work on a cursor whose result is not exhausted.
        rows = self.cursor().execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def query_dicts(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict]:
        cur = self.cursor().execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def insert_df(self, table: str, df: pd.DataFrame) -> int:
        """Insert a DataFrame's columns (by name) into `table`; returns rows inserted."""
        if df.empty:
            return 0
        view = f"_insert_{threading.get_ident()}"
        with self.registered(view, df) as cur:
            cols = ", ".join(quote_ident(c) for c in df.columns)
            cur.execute(f"INSERT INTO {quote_ident(table)} ({cols}) SELECT {cols} FROM {quote_ident(view)}").fetchall()
        return len(df)

    @contextmanager
    def registered(self, name: str, df: pd.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
        """Expose a DataFrame as a view named `name` on this thread's cursor for the block's duration."""
        cur = self.cursor()
        cur.register(name, df)
        try:
            yield cur
        finally:
            with suppress(duckdb.Error):
                cur.unregister(name)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction on this thread's cursor; nested calls join the outer one."""
        if getattr(self._local, "in_tx", False):
            yield self.cursor()
            return
        with self._write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION").fetchall()
            self._local.in_tx = True
            try:
                yield cur
                cur.execute("COMMIT").fetchall()
            except BaseException as err:
                # A failed COMMIT has already ended the transaction, and ROLLBACK then fails with "no transaction
                # is active", hiding the real cause (e.g. a full disk): keep the original error instead.
                with suppress(duckdb.Error):
                    cur.execute("ROLLBACK").fetchall()
                _raise_explained(self.path, err)
            finally:
                self._local.in_tx = False

    def next_id(self, sequence: str) -> int:
        return int(self.query_value("SELECT nextval(?)", [sequence]))

    # -- migrations --------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply the not-yet-applied migrations in name order; returns the names applied."""
        self.execute("CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)")
        done = {r[0] for r in self.query_rows("SELECT name FROM _migrations")}
        applied = []
        for name, sql in _migration_files():
            if name in done:
                continue
            with self.transaction() as cur:
                for statement in _split_sql(sql):
                    cur.execute(statement).fetchall()
                cur.execute("INSERT INTO _migrations VALUES (?, now())", [name]).fetchall()
            applied.append(name)
        return applied

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self.query_rows("SELECT name FROM _migrations ORDER BY name")]


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("curation.store") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def _split_sql(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
