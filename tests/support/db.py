"""Database fixtures: a SQLite file per test, a throwaway PostgreSQL database, and both at once.

    def test_something(database_url):        # runs twice: sqlite, then postgres
        upgrade(database_url)
        ...

    def test_with_tables(migrated_engine):   # an upgraded database and its engine, on both

`postgres_url` creates a uniquely named database on 127.0.0.1:5432 (user postgres, trust auth),
with an ICU en-US collation where the server has ICU, and drops it afterwards, even when the test
fails. Without a server the PostgreSQL cases fail: they are never skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine

from netflow.adapters.db import make_engine, upgrade

__all__ = ["POSTGRES_ADMIN", "postgres_available"]

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_ADMIN = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user=postgres dbname=postgres connect_timeout=3"


def postgres_available() -> bool:
    try:
        with psycopg.connect(POSTGRES_ADMIN):
            return True
    except psycopg.OperationalError:
        return False


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(statement)


def _create_database(name: str) -> None:
    """Prefer a natural-language collation (ICU en-US), as production databases often have: it sorts
    'mrn-1' after 'MRN_2', unlike Python, so code that relies on the database's string order shows it."""
    try:
        _admin(sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                       "LOCALE 'C.UTF-8'").format(sql.Identifier(name)))
    except psycopg.Error:
        _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet, in the test's own folder."""
    return f"sqlite:///{tmp_path / 'netflow.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    if not postgres_available():  # CI and every developer machine run PostgreSQL: a missing server is a failure
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_HOST}:{POSTGRES_PORT} (start it, see README)")
    name = f"netflow_test_{uuid.uuid4().hex[:12]}"
    _create_database(name)
    try:
        yield f"postgresql+psycopg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on SQLite and on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """An engine on an upgraded (empty) database, on SQLite and on PostgreSQL."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """An engine on an upgraded SQLite database only (for the SQLite-specific and slower tests)."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        yield engine
    finally:
        engine.dispose()
