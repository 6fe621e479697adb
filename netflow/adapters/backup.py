"""Copies of the patient database: a SQLite file through sqlite3's online backup API; PostgreSQL is pg_dump's.

    path = sqlite_file("sqlite:///var/netflow.db")           # Path("var/netflow.db"); None for PostgreSQL
    copy_sqlite(path, Path("netflow.bak"))                    # a consistent copy, even while others write
    pg_dump_command("postgresql+psycopg://u:pw@h/db", "x.dump")
    # "pg_dump --format=custom --file=x.dump 'postgresql://u@h/db'"  (the password left out)

The copy is written to FILE.partial and renamed to FILE once complete, so FILE is either absent or a
whole database (never half a copy). It is a self-contained file (rollback journal, no -wal beside it).
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL

from netflow.adapters.db import SQLITE_BUSY_TIMEOUT_MS, normalise_url

__all__ = ["CopyFailed", "copy_sqlite", "is_sqlite", "pg_dump_command", "sqlite_file"]


class CopyFailed(OSError):
    """SQLite could not copy the database (not a database, or locked longer than the busy timeout)."""


def is_sqlite(url: str | URL) -> bool:
    """True for a SQLite URL (a file or in memory), False for PostgreSQL."""
    return normalise_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite database URL; None for any other database (PostgreSQL) and for an in-memory one."""
    parsed = normalise_url(url)
    if not is_sqlite(parsed):
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def pg_dump_command(url: str | URL, file: str | Path) -> str:
    """The shell command that dumps the database at `url` to `file` (custom format, for pg_restore).

    The URL keeps user, host, port, database and query (sslmode...) but not the password: pg_dump asks
    for it, or reads PGPASSWORD or ~/.pgpass."""
    parsed = normalise_url(url)
    plain = URL.create("postgresql", username=parsed.username, host=parsed.host, port=parsed.port,
                       database=parsed.database, query=parsed.query)
    target = shlex.quote(f"--file={file}")
    return f"pg_dump --format=custom {target} {_single_quoted(plain.render_as_string(hide_password=False))}"


def _single_quoted(text: str) -> str:
    """`text` in single quotes for a POSIX shell, always (a URL's ? and & would otherwise need them)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _partial(target: Path) -> Path:
    return target.with_name(target.name + ".partial")


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk; folders cannot be opened on every platform."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _revision(conn: sqlite3.Connection) -> str | None:
    """The Alembic revision a SQLite database is at (None if never upgraded)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone():
        rows = conn.execute("SELECT version_num FROM alembic_version ORDER BY version_num").fetchall()
        return ",".join(str(row[0]) for row in rows) or None
    return None


def _backup(source: Path, partial: Path) -> str | None:
    """Copy with the online backup API (one consistent snapshot; writers in WAL mode are not blocked);
    returns the copy's schema revision."""
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True,
                              timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal to carry along
                return _revision(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise CopyFailed((str(exc).strip().splitlines() or [type(exc).__name__])[0]) from None


def _publish(partial: Path, target: Path, force: bool) -> None:
    """Rename the finished copy to `target`; without `force`, never over an existing file (FileExistsError)."""
    if force:
        os.replace(partial, target)
        return
    try:
        os.link(partial, target)  # atomic, and fails if target appeared meanwhile
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links
        if target.exists():
            raise FileExistsError(str(target)) from None
        os.replace(partial, target)
        return
    partial.unlink()


def copy_sqlite(source: Path, target: Path, *, force: bool = False) -> str | None:
    """Copy the SQLite database `source` to `target`, atomically; returns the Alembic revision of the copy.

    FileNotFoundError if `source` does not exist; FileExistsError if `target` does and not `force`;
    ValueError if `target` is `source` itself; CopyFailed if `source` is not a database (or stays
    locked longer than the busy timeout); another OSError if `target` cannot be written. Nothing is
    left at `target` (nor at `target`.partial) when it fails."""
    if not source.is_file():
        raise FileNotFoundError(str(source))
    if target.exists() and target.resolve() == source.resolve():
        raise ValueError(f"{target} is the database itself")
    if target.exists() and not force:
        raise FileExistsError(str(target))
    partial = _partial(target)
    partial.unlink(missing_ok=True)
    try:
        revision = _backup(source, partial)
        _fsync(partial)
        _publish(partial, target, force)
    finally:
        partial.unlink(missing_ok=True)
    _fsync(target.parent)
    return revision
