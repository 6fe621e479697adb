"""The patient database itself: upgrade its schema (a backup first), back it up (`netflow db ...`).

    upgrade_database("sqlite:///var/netflow.db", notify=print)   # backup beside it, then migrations to head
    backup_database("sqlite:///var/netflow.db", Path("netflow.bak"))

Unlike the other use cases these take the database URL, not an Installation: upgrading or backing up
needs no rule book, and a broken NETFLOW_RULESETS must not stand in the way of either. Neither checks
that the database is at head (that is what they are for); the upgrade refuses a database a newer
netflow upgraded (SchemaTooNew). Downgrades are not offered: the way back is the backup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from netflow.adapters.backup import copy_sqlite, is_sqlite, pg_dump_command, sqlite_file
from netflow.adapters.database import Database
from netflow.adapters.db import SchemaState, safe_url, schema_problem, upgrade, utcnow
from netflow.errors import DatabaseError, DatabaseUnavailable, InputError, NotMigrated

__all__ = ["BackupResult", "UpgradeResult", "backup_database", "upgrade_backup_path", "upgrade_database"]


@dataclass(frozen=True)
class UpgradeResult:
    """What `upgrade_database` did: the revisions before and after, and the backup it wrote (if any)."""

    url: str
    before: str | None
    after: str | None
    backup: Path | None = None

    def as_counts(self) -> dict[str, str | None]:
        return {"before": self.before, "after": self.after, "backup": str(self.backup) if self.backup else None}


@dataclass(frozen=True)
class BackupResult:
    """What `backup_database` wrote: the copy, and the schema revision it is at."""

    url: str
    path: Path
    revision: str | None

    def as_counts(self) -> dict[str, str | None]:
        return {"path": str(self.path), "revision": self.revision}


def _state(database_url: str) -> SchemaState:
    db = Database.open(database_url)
    try:
        return db.schema()
    finally:
        db.dispose()


def upgrade_backup_path(database: Path, revision: str, now: datetime) -> Path:
    """Where the backup before an upgrade goes: beside the database, named after the revision and the time."""
    return database.with_name(f"{database.name}.before-{revision}-{now:%Y%m%dT%H%M%SZ}.bak")


def _copy(source: Path, target: Path, *, force: bool, what: str) -> str | None:
    """copy_sqlite, its failures as one-line InputErrors (`what`: what was not done, for the message)."""
    try:
        return copy_sqlite(source, target, force=force)
    except FileNotFoundError:
        raise InputError(f"there is no database file at {source} (NETFLOW_DATABASE_URL): {what}") from None
    except FileExistsError:
        raise InputError(f"{target} already exists: {what} (--force overwrites it)") from None
    except ValueError as exc:
        raise InputError(f"{exc}: {what}") from None
    except OSError as exc:  # CopyFailed (not a database, locked), or the target cannot be written
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise InputError(f"cannot back up {source} to {target} ({reason}): {what}") from None


def _backup_before(database_url: str, state: SchemaState, backup: bool, notify: Callable[[str], None],
                   now: datetime) -> Path | None:
    """The backup before migrating a database at an older revision: a copy beside a SQLite file (unless
    not `backup`); for PostgreSQL, the pg_dump command to keep one (netflow makes none)."""
    assert state.revision is not None
    if not is_sqlite(database_url):
        notify("no backup made: netflow does not copy PostgreSQL databases; take one with pg_dump before "
               f"upgrading: {pg_dump_command(database_url, f'netflow-before-{state.revision}.dump')}")
        return None
    source = sqlite_file(database_url)
    if not backup or source is None:  # skipped, or an in-memory database
        return None
    target = upgrade_backup_path(source, state.revision, now)
    _copy(source, target, force=False, what="nothing was upgraded (--no-backup skips the backup)")
    notify(f"backup written to {target}")
    return target


def upgrade_database(database_url: str, *, backup: bool = True, notify: Callable[[str], None] | None = None,
                     now: datetime | None = None) -> UpgradeResult:
    """Create the database, or upgrade it to the newest schema; running it again changes nothing.

    A SQLite database at an older revision is first copied beside its file
    (`<file>.before-<revision>-<UTC time>.bak`, unless not `backup`); for PostgreSQL `notify` is told
    the pg_dump command instead. `notify` hears each such line as it happens (before the migrations run).
    SchemaTooNew when a newer netflow upgraded the database (nothing is done); DatabaseUnavailable when
    it cannot be opened or the migrations fail (they run in one transaction)."""
    say = notify or (lambda _line: None)
    url = safe_url(database_url)
    state = _state(database_url)
    if state.too_new:
        problem = schema_problem(state, url)
        assert problem is not None
        raise problem
    saved = _backup_before(database_url, state, backup, say, now or utcnow()) if state.behind else None
    try:
        after = upgrade(database_url)
    except NotMigrated:
        raise
    except DatabaseError as exc:
        raise DatabaseUnavailable(f"cannot upgrade the database at {url}: {exc.kind}; check "
                                  "NETFLOW_DATABASE_URL and that the server is running") from None
    return UpgradeResult(url, state.revision, after, saved)


def backup_database(database_url: str, target: Path, *, force: bool = False) -> BackupResult:
    """Copy the SQLite database to `target` (atomically; an existing `target` only with `force`).

    InputError, with nothing written, for PostgreSQL (the message gives the pg_dump command), a database
    that is not a file, a missing database file, an existing `target`, or a copy that failed."""
    source = sqlite_file(database_url)
    url = safe_url(database_url)
    if source is None:
        if is_sqlite(database_url):
            raise InputError(f"the database at {url} is not a file: nothing to back up")
        raise InputError(f"netflow backs up SQLite files only; back up the database at {url} with "
                         f"{pg_dump_command(database_url, target)}")
    if not source.is_file():
        raise InputError(f"there is no database file at {source} (NETFLOW_DATABASE_URL): nothing to back up")
    return BackupResult(url, target, _copy(source, target, force=force, what="nothing was written"))
