"""`netflow db upgrade`: create or upgrade the patient database to the newest schema."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from netflow.adapters.db import is_migrated, make_engine, safe_url, upgrade
from netflow.cli import UsageError
from netflow.cli.common import settings

__all__ = ["open_database", "register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("db", help="manage the patient database",
                            description="Manage the patient database at NETFLOW_DATABASE_URL "
                                        "(default: the SQLite file var/netflow.db).")
    commands = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    up = commands.add_parser("upgrade", help="create the database or upgrade it to the newest schema",
                             description="Create the patient database, or upgrade it to the newest "
                                         "schema. Running it again changes nothing.")
    up.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    url = settings().database_url
    try:
        revision = upgrade(url)
    except SQLAlchemyError as exc:
        raise UsageError(f"cannot upgrade the database at {safe_url(url)}: {exc.__class__.__name__}; "
                         f"check NETFLOW_DATABASE_URL and that the server is running") from None
    print(f"database {safe_url(url)} is at schema revision {revision}")
    return 0


def open_database() -> Engine:
    """The engine for NETFLOW_DATABASE_URL, after checking the schema exists (else a UsageError)."""
    url = settings().database_url
    engine = make_engine(url)
    try:
        ready = is_migrated(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise UsageError(f"cannot open the database at {safe_url(url)}: {exc.__class__.__name__}; "
                         f"check NETFLOW_DATABASE_URL and that the server is running") from None
    if not ready:
        engine.dispose()
        raise UsageError(f"the database at {safe_url(url)} has no netflow tables; run 'netflow db upgrade' first")
    return engine
