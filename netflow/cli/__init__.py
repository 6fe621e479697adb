"""The `netflow` command. Each subcommand lives in its own module with a `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from netflow import __version__

__all__ = ["build_parser", "main"]

# One module per subcommand (or group of subcommands); each defines register(subparsers).
COMMAND_MODULES = (
    "netflow.cli.evaluate",
    "netflow.cli.db",
    "netflow.cli.importing",
    "netflow.cli.scan",
    "netflow.cli.remind",
    "netflow.cli.mailcatcher",
    "netflow.cli.report",
    "netflow.cli.demo",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and map expected errors to one clear line and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"netflow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


class UsageError(Exception):
    """A problem the user can fix (bad file, bad date, bad configuration): one line, exit 2."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
