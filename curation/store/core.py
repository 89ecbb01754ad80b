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

_LOCK_PID = re.compile(r"PID (\d+)")


class StoreLockedError(RuntimeError):
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


class Store:
    """One DuckDB database: a connection per thread, migrations applied on open."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as err:
            if "lock" in str(err).lower():
                raise StoreLockedError(_locked_message(self.path, err)) from err
            raise
        self._local = threading.local()
        self._local.cursor = self._conn
        self._write_lock = threading.RLock()
        if not read_only:
            self.migrate()

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
        rows = self.cursor().execute(sql, params or []).fetchall()
        return rows[0][0] if rows and len(rows[0]) == 1 and isinstance(rows[0][0], int) else None

    def query_df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        return self.cursor().execute(sql, params or []).df()

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
            except BaseException:
                cur.execute("ROLLBACK").fetchall()
                raise
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
