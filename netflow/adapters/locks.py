"""One writer at a time for a named phase of a run, across processes and schedulers.

PostgreSQL: a session advisory lock held on its own connection. SQLite: an exclusive flock on a
file beside the database. Two `netflow remind` runs for the same date therefore build and send
one after the other, and the second finds nothing left to do.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["exclusive"]


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock called `name` for this database while the block runs."""
    if engine.dialect.name == "postgresql":
        key = zlib.crc32(f"netflow:{name}".encode())
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + f".{name}.lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
