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

from curation import config

_LOCK_PID = re.compile(r"PID (\d+)")
# Statements that change the database: they run only inside `Store.transaction()` (the one write path).
_WRITE = re.compile(
    r"^\s*(?:WITH\b.*?\)\s*)?(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|TRUNCATE|CHECKPOINT|ATTACH|DETACH)\b",
    re.IGNORECASE | re.DOTALL,
)


def is_write(sql: str) -> bool:
    """True when a statement changes the database (INSERT, UPDATE, DELETE, DDL ...)."""
    return bool(_WRITE.match(sql))


class StoreAccessError(RuntimeError):
    """The database cannot be opened or written (a folder, not DuckDB, read-only, disk full); says what to do."""


class WriteOutsideTransactionError(RuntimeError):
    """A write was attempted outside `Store.transaction()`, the store's single write path."""


class StoreLockedError(StoreAccessError):
    """Another process holds the DuckDB file."""


class TeamDatabaseError(StoreAccessError):
    """A team database (one opened with a users file) opened without one: that would turn login off silently."""


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


def _make_private_folders(folder: Path) -> None:
    """Create `folder` and any missing parents readable by their owner only (0700); existing ones stay as they are."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with suppress(FileExistsError):
            path.mkdir(mode=0o700)


TEAM_FACT = "team_database"


class Store:
    """One DuckDB database: a connection per thread, migrations applied on open.

    A new database file is created 0600 in folders created 0700 (its rows may be private). A database opened once
    with a users file is recorded as a team database and never opens without one (TeamDatabaseError).
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        try:
            in_memory = str(path) == ":memory:"
            created = not read_only and not in_memory and not self.path.exists()
            if not read_only and not in_memory:
                _make_private_folders(self.path.parent)
            self._conn = duckdb.connect(str(self.path), read_only=read_only)
            if created:
                self.path.chmod(0o600)
        except (duckdb.Error, OSError) as err:
            raise _open_error(self.path, err, read_only) from err
        self._local = threading.local()
        # Every thread, the opening one included, works on a cursor of its own: the base connection runs nothing,
        # so creating a cursor from it never meets "connection is busy" while another thread queries.
        self._local.cursor = self._conn.cursor()
        self._write_lock = threading.RLock()
        try:
            if not read_only:
                self.migrate()
            self._check_team_mode()
        except BaseException:
            self._conn.close()
            raise

    def _check_team_mode(self) -> None:
        """Record a team database on its first open with a users file; refuse one opened without a users file."""
        if not self.query_value(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'store_facts' "
            "AND table_catalog = current_database()"
        ):
            return
        team = self.fact(TEAM_FACT) is not None
        users_file = config.get("users_file").strip()
        if users_file and not team and not self.read_only:
            self.set_fact(TEAM_FACT, "1")
        elif team and not users_file:
            raise TeamDatabaseError(
                f"{self.path} is a team database: set {config.SETTINGS['users_file'].env} to its users file "
                "(an admin can make it single-user with `python -m curation --user ADMIN users leave-team`)"
            )

    def fact(self, name: str) -> str | None:
        """A recorded fact about this database (team mode, the session signing key), or None."""
        return self.query_value("SELECT value FROM store_facts WHERE name = ?", [name])

    def set_fact(self, name: str, value: str) -> None:
        self.execute(
            "INSERT INTO store_facts (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_at = now()",
            [name, value],
        )

    def drop_fact(self, name: str) -> None:
        self.execute("DELETE FROM store_facts WHERE name = ?", [name])

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
        """Run a statement to completion inside the write transaction (joining the caller's, or a new one of its
        own); returns the affected-row count of DML statements."""
        with self.transaction() as cur:
            try:
                rows = cur.execute(sql, params or []).fetchall()
            except duckdb.Error as err:
                _raise_explained(self.path, err)
        return rows[0][0] if rows and len(rows[0]) == 1 and isinstance(rows[0][0], int) else None

    def execute_returning(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Run a writing statement with a RETURNING clause inside the write transaction; its rows."""
        with self.transaction() as cur:
            try:
                return cur.execute(sql, params or []).fetchall()
            except duckdb.Error as err:
                _raise_explained(self.path, err)
                raise

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any] | None) -> duckdb.DuckDBPyConnection:
        if is_write(sql):
            raise WriteOutsideTransactionError(
                f"query verbs only read; use Store.execute or Store.transaction() to write: {sql.strip()[:60]!r}"
            )
        return self.cursor().execute(sql, params or [])

    def query_df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        return self._read(sql, params).df()

    def query_arrow(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """A query's result as an Arrow table: columnar, no Python object per value (for very many rows)."""
        return self.cursor().sql(sql, params=params or None).to_arrow_table()  # no DB-API copy

    def query_rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        return self._read(sql, params).fetchall()

    def query_value(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        # fetchall, not fetchone: duckdb 2.0 refuses new work on a cursor whose result is not exhausted.
        rows = self._read(sql, params).fetchall()
        return rows[0][0] if rows else None

    def query_dicts(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict]:
        cur = self._read(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def insert_df(self, table: str, df: pd.DataFrame) -> int:
        """Insert a DataFrame's columns (by name) into `table`; returns rows inserted."""
        if df.empty:
            return 0
        view = f"_insert_{threading.get_ident()}"
        with self.transaction(), self.registered(view, df) as cur:
            cols = ", ".join(quote_ident(c) for c in df.columns)
            cur.execute(f"INSERT INTO {quote_ident(table)} ({cols}) SELECT {cols} FROM {quote_ident(view)}").fetchall()
        return len(df)

    @contextmanager
    def registered(self, name: str, df: pd.DataFrame) -> Iterator[GuardedCursor]:
        """Expose a DataFrame as a view named `name` on this thread's cursor for the block's duration; the cursor
        handed out refuses writes outside `transaction()`."""
        cur = self.cursor()
        cur.register(name, df)
        try:
            yield GuardedCursor(cur, self)
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

    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "in_tx", False))

    def next_id(self, sequence: str) -> int:
        # nextval advances a sequence: a write, so it takes the write path too
        with self.transaction() as cur:
            return int(cur.execute("SELECT nextval(?)", [sequence]).fetchall()[0][0])

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


class GuardedCursor:
    """A cursor that runs writes only inside the store's write transaction (reads anywhere)."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, store: Store) -> None:
        self._cursor = cursor
        self._store = store

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        if is_write(sql) and not self._store.in_transaction():
            raise WriteOutsideTransactionError(
                f"write outside Store.transaction() (the single write path): {sql.strip()[:60]!r}"
            )
        return self._cursor.execute(sql, params or [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("curation.store") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def _split_sql(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
