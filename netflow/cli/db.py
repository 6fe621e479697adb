"""`netflow db upgrade`: create or upgrade the patient database to the newest schema."""

from __future__ import annotations

import argparse
from typing import Any

from netflow.adapters.db import safe_url, upgrade
from netflow.config import Settings
from netflow.errors import DatabaseError, DatabaseUnavailable

__all__ = ["register"]


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
    url = Settings.from_env().database_url
    try:
        revision = upgrade(url)
    except DatabaseError as exc:
        raise DatabaseUnavailable(f"cannot upgrade the database at {safe_url(url)}: {exc.kind}; check "
                                  "NETFLOW_DATABASE_URL and that the server is running") from None
    print(f"database {safe_url(url)} is at schema revision {revision}")
    return 0
