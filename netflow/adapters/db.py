"""Engines and migrations for the patient database: SQLite (a file) or PostgreSQL (psycopg 3).

>>> engine = make_engine("sqlite:///var/netflow.db")      # doctest: +SKIP
>>> upgrade("postgresql://netflow@db.internal/netflow")  # doctest: +SKIP
>>> schema_state(engine).behind                           # doctest: +SKIP
True

A database is at one Alembic revision: none (never upgraded), an older one this netflow knows
(`netflow db upgrade` moves it to head), head, or one this netflow does not know (a newer netflow
upgraded it: refused, `schema_problem` says what to do). Downgrades are for development only.

Nothing is built at import time. SQLite connections get WAL, foreign keys and a busy timeout,
and real transactions (SQLAlchemy emits BEGIN, so reads inside a transaction see one snapshot).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError

from netflow.errors import DatabaseError, NotMigrated, SchemaTooNew

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "DatabaseError",
    "IdRange",
    "SchemaState",
    "scrubbed_errors",
    "alembic_config",
    "current_revision",
    "head_revision",
    "is_migrated",
    "known_revisions",
    "schema_problem",
    "schema_state",
    "make_engine",
    "normalise_url",
    "safe_url",
    "upgrade",
    "url_from_parts",
    "utcnow",
    "within",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = "netflow:migrations"


def utcnow() -> datetime:
    """The timestamp written to created_at / updated_at columns (UTC, from this machine's clock)."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp read back from the database, UTC-aware (SQLite returns them naive)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; plain `postgresql://` (or `postgres://`) URLs use the psycopg 3 driver."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def url_from_parts(*, username: str | None, password: str | None, host: str | None, port: int | None,
                   database: str | None, query: Mapping[str, str]) -> str:
    """A PostgreSQL URL (psycopg 3) from its parts, each quoted as a URL needs (a password may hold @ or /)."""
    url = URL.create("postgresql+psycopg", username=username, password=password, host=host, port=port,
                     database=database, query=query)
    return url.render_as_string(hide_password=False)


def safe_url(url: str | URL) -> str:
    """The URL as it may appear in output and logs: the password hidden."""
    return normalise_url(url).render_as_string(hide_password=True)


def _scrub(exc: DBAPIError) -> DatabaseError:
    original = exc.orig
    diag = getattr(original, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:  # SQLite and connection errors: the first line names constraints, not values
        lines = str(original).strip().splitlines()
        primary = lines[0] if lines else "database error"
    return DatabaseError(type(original).__name__, primary, getattr(original, "sqlstate", None))


# Errors of a connection that failed or went away (not of a statement written wrong: those are bugs).
_CONNECTION_ERRORS = (sa_exc.DisconnectionError, sa_exc.PendingRollbackError, sa_exc.ResourceClosedError,
                      sa_exc.TimeoutError)


@contextmanager
def scrubbed_errors() -> Iterator[None]:
    """Turn driver errors raised inside the block into a DatabaseError without patient data.

    The CLI runs every command inside it, so a database lost mid-command is one line, not a traceback."""
    try:
        yield
    except DBAPIError as exc:
        raise _scrub(exc) from None
    except _CONNECTION_ERRORS as exc:
        lines = str(exc).strip().splitlines()
        raise DatabaseError(type(exc).__name__, lines[0] if lines else "connection error") from None


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy, not the driver, emits BEGIN
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _make_sqlite_engine(url: URL, echo: bool) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, hide_parameters=True,
                           connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for the patient database at `url` (SQLite file or PostgreSQL).

    Statement parameters (patient data) never appear in logs or exception messages
    (`hide_parameters`). A SQLite file's folder is created if needed. Pass the execution option
    `sqlite_immediate=True` on a connection to start its SQLite transactions with BEGIN IMMEDIATE
    (take the write lock up front); PostgreSQL ignores it.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, echo)
    return create_engine(parsed, echo=echo, hide_parameters=True, pool_pre_ping=True)


def alembic_config(url: str | URL) -> Config:
    """The Alembic configuration, built in code: no alembic.ini needed at run time."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    # ConfigParser interpolation: a literal % in a password must be doubled.
    rendered = normalise_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str | URL, revision: str = "head") -> str | None:
    """Create or upgrade the database at `url` to `revision`; returns the revision it is at after.

    SchemaTooNew, with nothing changed, when the database is at a revision this netflow does not know."""
    from alembic import command

    engine = make_engine(url)
    try:
        with scrubbed_errors(), engine.begin() as conn:
            state = _schema_state(conn)
            if state.too_new:
                raise _too_new(state, safe_url(url))
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
        with scrubbed_errors():
            return current_revision(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for a database never upgraded."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@cache
def _scripts() -> ScriptDirectory:
    """The migrations this netflow ships (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str | None:
    """The newest revision the code ships."""
    return _scripts().get_current_head()


@cache
def known_revisions() -> frozenset[str]:
    """Every revision the code ships, head included."""
    return frozenset(script.revision for script in _scripts().walk_revisions())


def is_migrated(engine: Engine) -> bool:
    """True when the netflow tables exist (the database has been upgraded at least once)."""
    with engine.connect() as conn:
        return inspect(conn).has_table("patients")


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against the migrations this netflow ships.

    `revision`: the one in alembic_version, None for a database never upgraded (several rows, which
    netflow never writes, are joined with commas and count as unknown); `tables`: whether the netflow
    tables exist; `head`: the newest revision this netflow ships."""

    revision: str | None
    tables: bool
    head: str

    @property
    def current(self) -> bool:
        """At head: every command may run."""
        return self.revision == self.head

    @property
    def too_new(self) -> bool:
        """At a revision this netflow does not know: a newer netflow upgraded it."""
        return self.revision is not None and self.revision not in known_revisions()

    @property
    def behind(self) -> bool:
        """At an older revision this netflow knows: `netflow db upgrade` brings it to head."""
        return self.revision is not None and not self.current and not self.too_new


def _schema_state(conn: Connection) -> SchemaState:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    revision = ",".join(sorted(heads)) if heads else None
    head = head_revision()
    assert head is not None, "netflow ships no migrations"
    return SchemaState(revision, inspect(conn).has_table("patients"), head)


def schema_state(engine: Engine) -> SchemaState:
    """Read where the database's schema stands (one connection, two small queries)."""
    with engine.connect() as conn:
        return _schema_state(conn)


def _too_new(state: SchemaState, url: str) -> SchemaTooNew:
    return SchemaTooNew(f"the database at {url} was upgraded by a newer netflow (revision {state.revision}, "
                        f"unknown to this version whose newest is {state.head}): run the newer netflow, "
                        "or restore a backup")


def schema_problem(state: SchemaState, url: str) -> NotMigrated | None:
    """What stops commands from running on a database in `state` (None: it is at head), as the one-line
    error to raise. `url` is the database as messages show it (password hidden)."""
    if state.current:
        return None
    if state.too_new:
        return _too_new(state, url)
    if state.revision is not None:
        return NotMigrated(f"the database at {url} is at schema revision {state.revision}, this netflow needs "
                           f"{state.head}: run 'netflow db upgrade'")
    if state.tables:
        return NotMigrated(f"the database at {url} has netflow tables but no schema revision (it was not built "
                           "by 'netflow db upgrade', so its schema is unknown): restore a backup")
    return NotMigrated(f"the database at {url} has no netflow tables; run 'netflow db upgrade' first")


def dialect_insert(conn: Connection, table: Any) -> Any:
    """An INSERT that knows ON CONFLICT, for the connection's dialect (SQLite and PostgreSQL spell it alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def by_code_point(conn: Connection, column: Any) -> Any:
    """Order by code point, as Python compares strings (PostgreSQL's default collation may not)."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


IdRange = tuple[str | None, str | None]  # (low, high): low <= patient_id < high in code-point order; None: open


def within(key: Any, id_range: IdRange) -> list[Any]:
    """The conditions low <= key < high for the bounds given (none for an open end); `key` an expression
    that compares in code-point order (`by_code_point`)."""
    low, high = id_range
    return [*(() if low is None else (key >= low,)), *(() if high is None else (key < high,))]
