"""The `netflow` command. Each subcommand lives in its own module with a `register(subparsers)` and calls
one use case in `netflow.services`; errors of the `netflow.errors` tree become one line and an exit status."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

from netflow import __version__
from netflow.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailable,
    InputError,
    NetflowError,
    NotMigrated,
)

__all__ = ["UsageError", "build_parser", "exit_code", "main"]

# The module of each subcommand (or group of subcommands); each defines register(subparsers). A command
# line naming one imports only its module: `netflow evaluate` never loads SQLAlchemy or the services.
COMMANDS = {
    "evaluate": "netflow.cli.evaluate",
    "db": "netflow.cli.db",
    "import": "netflow.cli.importing",
    "teams": "netflow.cli.importing",
    "scan": "netflow.cli.scan",
    "remind": "netflow.cli.remind",
    "outbox": "netflow.cli.outbox",
    "mailcatcher": "netflow.cli.mailcatcher",
    "report": "netflow.cli.report",
    "demo-data": "netflow.cli.demo",
    "rules": "netflow.cli.rules",
    "audit": "netflow.cli.audit",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))
# Commands that never touch the patient database (no driver errors to scrub).
NO_DATABASE = frozenset({"evaluate", "rules", "mailcatcher", "demo-data"})


def _modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The modules to register: the named command's alone, or all (no command, --help, an unknown one)."""
    words = list(sys.argv[1:] if argv is None else argv)
    first = next((w for w in words if not w.startswith("-")), None)
    if first in COMMANDS and not any(w in ("-h", "--help", "--version") for w in words[:words.index(first)]):
        return (COMMANDS[first],)
    return COMMAND_MODULES


def build_parser(argv: Sequence[str] | None = ()) -> argparse.ArgumentParser:
    """The parser with every command, or (given a command line) with only the command it names."""
    parser = argparse.ArgumentParser(
        prog="netflow",
        description=(
            "Surveillance imaging reminders after resection of a neuroendocrine tumour: evaluate "
            "patients against guideline rule sets, keep the patient database, send care-team digests."
        ),
        epilog="Run 'netflow COMMAND --help' for a command's options. Configuration is read from "
               "NETFLOW_* environment variables (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"netflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES if argv == () else _modules_for(argv):
        importlib.import_module(name).register(sub)
    return parser


def exit_code(error: NetflowError) -> int:
    """2: nothing was done (a usage, configuration or input error, a database that cannot be opened);
    1: a run stopped part-way (the database failed mid-run; what was committed is kept)."""
    if isinstance(error, ConfigurationError | InputError | DatabaseUnavailable | NotMigrated):
        return 2
    return 1


def message(command: str, error: NetflowError) -> str:
    """The one line printed for an expected error (messages carry no patient data)."""
    if isinstance(error, DatabaseError) and exit_code(error) == 1:
        reason = " ".join(str(error).split())[:300]
        return (f"netflow {command}: error: the patient database failed mid-run ({reason}); what was committed "
                "is kept: run the same command again")
    return f"netflow {command}: error: {error}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn netflow's own errors into one clear line and an exit status.

    Anything else is a bug: it surfaces with its traceback."""
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        with _database_errors(args.command), _quiet_driver_cleanup():
            return int(args.handler(args) or 0)
    except NetflowError as exc:
        print(message(args.command, exc), file=sys.stderr)
        return exit_code(exc)
    except BrokenPipeError:
        return 0


def _database_errors(command: str) -> AbstractContextManager[None]:
    """Driver errors become one scrubbed DatabaseError line (adapters.db.scrubbed_errors), where there can be any."""
    if command in NO_DATABASE:
        return nullcontext()
    from netflow.adapters.db import scrubbed_errors

    return scrubbed_errors()


@contextmanager
def _quiet_driver_cleanup() -> Iterator[None]:
    """Once a connection is lost, SQLAlchemy logs each clean-up step that fails with it (closing a
    cursor, resetting a pooled connection) as an error with a traceback. The command's own line
    says what happened; those are not printed."""
    logger = logging.getLogger("sqlalchemy")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class UsageError(InputError):
    """A command-line argument that cannot be used (one line, exit 2)."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
