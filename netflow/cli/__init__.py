"""The `netflow` command. Each subcommand lives in its own module with a `register(subparsers)` and calls
one use case in `netflow.services`; errors of the `netflow.errors` tree become one line and an exit status."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from netflow import __version__
from netflow.adapters.db import scrubbed_errors
from netflow.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailable,
    InputError,
    NetflowError,
    NotMigrated,
)

__all__ = ["UsageError", "build_parser", "exit_code", "main"]

# One module per subcommand (or group of subcommands); each defines register(subparsers).
COMMAND_MODULES = (
    "netflow.cli.evaluate",
    "netflow.cli.db",
    "netflow.cli.importing",
    "netflow.cli.scan",
    "netflow.cli.remind",
    "netflow.cli.outbox",
    "netflow.cli.mailcatcher",
    "netflow.cli.report",
    "netflow.cli.demo",
    "netflow.cli.rules",
)


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMAND_MODULES:
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with scrubbed_errors(), _quiet_driver_cleanup():
            return int(args.handler(args) or 0)
    except NetflowError as exc:
        print(message(args.command, exc), file=sys.stderr)
        return exit_code(exc)
    except BrokenPipeError:
        return 0


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
