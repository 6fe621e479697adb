"""`netflow db upgrade` (create or upgrade the patient database, a backup first) and `netflow db backup FILE`.

Neither checks that the database is at this netflow's schema revision, as every other command does:
upgrading is how it gets there, and a backup is wanted whatever revision the database is at.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from netflow.config import Settings
from netflow.services.database import backup_database, upgrade_database

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("db", help="manage the patient database",
                            description="Manage the patient database at NETFLOW_DATABASE_URL "
                                        "(default: the SQLite file var/netflow.db).")
    commands = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    up = commands.add_parser(
        "upgrade", help="create the database or upgrade it to the newest schema",
        description="Create the patient database, or upgrade it to the newest schema. Running it again "
                    "changes nothing. A SQLite database at an older schema is first copied beside its file "
                    "(<file>.before-<revision>-<UTC time>.bak); for PostgreSQL take a pg_dump first. "
                    "Downgrades are not supported: the way back is the backup. A database upgraded by a "
                    "newer netflow is refused (exit 2).")
    up.add_argument("--no-backup", dest="backup", action="store_false",
                    help="do not copy a SQLite database before upgrading it")
    up.set_defaults(handler=run_upgrade)
    backup = commands.add_parser(
        "backup", help="copy the SQLite database to a file (PostgreSQL: use pg_dump)",
        description="Copy the SQLite patient database to FILE with SQLite's online backup API: a "
                    "consistent copy even while netflow writes, written to FILE.partial and renamed when "
                    "complete. Restore it by putting it in place of the database file while nothing runs. "
                    "For PostgreSQL it prints the pg_dump command to use instead (exit 2).")
    backup.add_argument("file", type=Path, metavar="FILE", help="where to write the copy")
    backup.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    backup.set_defaults(handler=run_backup)


def run_upgrade(args: argparse.Namespace) -> int:
    result = upgrade_database(Settings.from_env().database_url, backup=args.backup, notify=print)
    if result.before not in (None, result.after):
        print(f"database {result.url} upgraded from schema revision {result.before} to {result.after}")
    else:
        print(f"database {result.url} is at schema revision {result.after}")
    return 0


def run_backup(args: argparse.Namespace) -> int:
    result = backup_database(Settings.from_env().database_url, args.file, force=args.force)
    revision = f"schema revision {result.revision}" if result.revision else "no schema revision"
    print(f"backup of {result.url} ({revision}) written to {result.path}")
    return 0
