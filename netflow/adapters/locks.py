"""One writer at a time for a named phase of a run, across processes and schedulers.

    with exclusive_transaction(engine, "build") as conn:   # a transaction that holds the lock
        ...                                                 # the lock ends with the transaction

    with exclusive(engine, "send") as lock:                 # a lock over many transactions
        for message in pending:
            lock.check()                                    # still ours? (raises LockLost if not)
            ...

PostgreSQL: an advisory lock. `exclusive_transaction` takes it inside the transaction itself
(`pg_advisory_xact_lock`), so the lock and the work share one session and one fate: if the
database ends the session, the transaction is rolled back with it. `exclusive` holds a session
lock on a connection of its own; `check()` asks the server whether that session still holds it,
so a process whose session was ended (the database restarted, an administrator terminated it)
stops before its next step instead of carrying on unprotected beside the run that now holds it.
SQLite: an exclusive flock on a file beside the database, released when the process ends; its
build transaction starts with BEGIN IMMEDIATE, so it never has to upgrade a read to a write.

Two `netflow remind` runs for the same date therefore build and send one after the other, and
the second finds nothing left to do.
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from netflow.adapters.db import scrubbed_errors
from netflow.errors import DatabaseError

__all__ = ["HeldLock", "LockLost", "exclusive", "exclusive_transaction"]

log = logging.getLogger(__name__)

_STILL_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
    "AND classid = 0 AND objid::bigint = :k AND objsubid = 1")


class LockLost(DatabaseError):
    """The database session that held a lock has ended: stop now; a rerun continues safely."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__("LockLost", f"the database session holding netflow's {name!r} lock has ended "
                                     f"({reason}); stopped so that no other run overlaps this one")


class HeldLock:
    """A lock this process holds; `check()` raises LockLost once it no longer does."""

    def __init__(self, check: Callable[[], None] = lambda: None) -> None:
        self._check = check

    def check(self) -> None:
        self._check()


def _key(name: str) -> int:
    return zlib.crc32(f"netflow:{name}".encode())


def _lock_file(engine: Engine, name: str) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + f".{name}.lock")


@contextmanager
def _flock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _session_check(conn: Connection, name: str, key: int) -> Callable[[], None]:
    def check() -> None:
        try:
            with scrubbed_errors():
                held = conn.execute(_STILL_HELD, {"k": key}).scalar()
                conn.commit()
        except DatabaseError as exc:
            raise LockLost(name, str(exc)) from None
        if not held:
            raise LockLost(name, "the server no longer lists it")
    return check


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[HeldLock]:
    """Hold the lock called `name` for this database while the block runs (over many transactions)."""
    if engine.dialect.name != "postgresql":
        with _flock(_lock_file(engine, name)):
            yield HeldLock()
        return
    key = _key(name)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            yield HeldLock(_session_check(conn, name, key))
        finally:
            try:
                with scrubbed_errors():
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
            except (SQLAlchemyError, DatabaseError) as exc:  # the session is gone, and its lock with it
                log.info("could not release netflow's %r lock (%s): its session has ended, which "
                         "released it", name, type(exc).__name__)


@contextmanager
def exclusive_transaction(engine: Engine, name: str) -> Iterator[Connection]:
    """A transaction that holds the lock called `name`; committed when the block ends, else rolled back."""
    if engine.dialect.name != "postgresql":
        with _flock(_lock_file(engine, name)), engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn
        return
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _key(name)})
        yield conn
