"""Writing output files without destroying anything: no silent overwrite, never the database, atomic replace.

Every export (rows, snapshots, LLaMA-Factory datasets, merged models) writes through here: each file goes to a
temporary file in the same folder, is fsynced, and is renamed into place only when all files of the group are
complete, so a failure (a full disk, a cancel) leaves the old files exactly as they were and no temporary behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from curation import config

_DUCKDB_MAGIC = b"DUCK"
_TEMP = re.compile(r"^\.tmp-.*-p(\d+)-")


class FileWriteError(ValueError):
    """An output file was refused (it exists, it is the database) or could not be written; nothing was changed."""


def _database_paths(extra: Iterable[str | Path]) -> set[Path]:
    databases = [config.get_path("db"), *extra]
    return {Path(p).resolve() for db in databases for p in (Path(db), Path(f"{db}.wal"))}


def is_duckdb_file(path: Path) -> bool:
    """True for a DuckDB database file (its header carries the magic bytes 'DUCK' at offset 8)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(12)[8:12] == _DUCKDB_MAGIC
    except OSError:
        return False


def check_target(path: str | Path, *, overwrite: bool = False, databases: Iterable[str | Path] = ()) -> Path:
    """Refuse a target that is a database, its WAL, a folder, or (unless `overwrite`) an existing file."""
    path = Path(path)
    if path.resolve() in _database_paths(databases) or is_duckdb_file(path):
        raise FileWriteError(f"{path} is a database (or its write-ahead log); choose another output file")
    if path.is_dir():
        raise FileWriteError(f"{path} is a folder; give a file name inside it")
    if path.exists() and not overwrite:
        raise FileWriteError(f"{path} already exists; choose another file, or pass --force to replace it")
    return path


def explain_os_error(err: OSError, path: Path) -> FileWriteError:
    """A one-line error saying what failed and what to do."""
    if err.errno == errno.ENOSPC:
        why = "the disk is full (No space left on device); free some space and try again"
    elif err.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied; choose a folder you can write to"
    elif err.errno in (errno.EEXIST, errno.ENOTDIR):
        why = "a file stands where a folder is needed on this path; move it or choose another folder"
    elif err.errno == errno.EROFS:
        why = "the file system is read-only; choose another folder"
    else:
        why = err.strerror or str(err)
    return FileWriteError(f"cannot write {path}: {why}; nothing was changed")


def temp_prefix(name: str) -> str:
    """Prefix of this process's temporaries for `name` (the pid lets a later run remove them if we die)."""
    return f".tmp-{name}-p{os.getpid()}-"


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened for fsync
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_files(
    files: list[tuple[Path, bytes]], *, overwrite: bool = False, databases: Iterable[str | Path] = ()
) -> None:
    """Write several files as one step: all temporaries first, then the renames in the given order.

    Put the data before its manifest: a manifest then never describes a file that is not there.
    """
    databases = list(databases)
    targets = [
        (check_target(path, overwrite=overwrite or _holds(path, data), databases=databases), data)
        for path, data in files
    ]
    temps: list[Path] = []
    current = targets[0][0] if targets else Path()
    try:
        for path, data in targets:
            current = path
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=temp_prefix(path.name), dir=path.parent)
            temps.append(Path(name))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for (path, _), temp in zip(targets, temps, strict=True):
            current = path
            os.replace(temp, path)
            _fsync_folder(path.parent)
    except OSError as err:
        raise explain_os_error(err, current) from err
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def _holds(path: Path, data: bytes) -> bool:
    """True when `path` already holds exactly `data` (rewriting it loses nothing)."""
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def write_file(path: str | Path, data: bytes, *, overwrite: bool = False, databases: Iterable[str | Path] = ()) -> Path:
    """Write one file atomically (see `write_files`)."""
    write_files([(Path(path), data)], overwrite=overwrite, databases=databases)
    return Path(path)


@contextlib.contextmanager
def new_folder(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside `path` that becomes `path` when the block succeeds, and vanishes when it fails.

    `path` must not exist yet (folders are never merged into or replaced).
    """
    path = Path(path)
    if path.exists():
        raise FileWriteError(f"{path} already exists; choose another folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    temp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), dir=path.parent))
    try:
        yield temp
        os.rename(temp, path)
    except OSError as err:
        raise explain_os_error(err, path) from err
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete `.tmp-*` files and folders left in `folder` by a process that no longer runs; returns them."""
    folder = Path(folder)
    removed = []
    for entry in folder.iterdir() if folder.is_dir() else []:
        match = _TEMP.match(entry.name)
        if not match or _alive(int(match.group(1))):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
