"""Helpers shared by the subcommands: dates, run ids, the installation from the environment."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from netflow.as_of import check_as_of, tomorrow
from netflow.cli import UsageError
from netflow.config import Settings
from netflow.domain.dates import parse_iso_date
from netflow.errors import InputError

if TYPE_CHECKING:
    from netflow.installation import Installation

__all__ = ["add_as_of", "as_of_date", "check_as_of_option", "installation", "run_id"]


def as_of_date(text: str) -> date:
    """argparse type for --as-of: a strict YYYY-MM-DD date."""
    parsed = parse_iso_date(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"must be a date as YYYY-MM-DD, got {text!r}")
    return parsed


def add_as_of(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--as-of and --allow-future; the command's handler calls `check_as_of_option(args)` first."""
    parser.add_argument("--as-of", dest="as_of", type=as_of_date, required=required, metavar="YYYY-MM-DD",
                        help="the date to evaluate on (the engine never reads the clock); at most tomorrow in "
                             "NETFLOW_TIMEZONE unless --allow-future")
    parser.add_argument("--allow-future", dest="allow_future", action="store_true",
                        help="take an --as-of date after tomorrow (to see what a later date would bring)")


def check_as_of_option(args: argparse.Namespace, now: datetime | None = None) -> None:
    """Refuse --as-of after tomorrow in the installation's time zone without --allow-future, or too far in
    the future for the calendar (UsageError: one line, exit 2). `now` defaults to this machine's clock."""
    as_of: date | None = getattr(args, "as_of", None)
    if as_of is None:
        return
    latest = tomorrow(Settings.from_env().timezone, now)
    try:
        check_as_of(as_of, latest, allow_future=bool(getattr(args, "allow_future", False)), option="--as-of",
                    allow="--allow-future")
    except InputError as exc:
        raise UsageError(str(exc)) from None


def installation(guideline: str | None = None) -> Installation:
    """The installation as the NETFLOW_* environment describes it (`guideline`: e.g. --guideline)."""
    from netflow.installation import Installation

    return Installation.from_settings(Settings.from_env(), guideline=guideline)


def run_id(given: str | None) -> str:
    """--run-id, else cli-<UTC timestamp>."""
    return given or f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
