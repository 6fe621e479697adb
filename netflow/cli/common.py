"""Helpers shared by the subcommands: dates, run ids, the installation from the environment."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from netflow.config import Settings
from netflow.domain.dates import parse_iso_date
from netflow.installation import Installation

__all__ = ["add_as_of", "as_of_date", "installation", "run_id"]


def as_of_date(text: str) -> date:
    """argparse type for --as-of: a strict YYYY-MM-DD date."""
    parsed = parse_iso_date(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"must be a date as YYYY-MM-DD, got {text!r}")
    return parsed


def add_as_of(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--as-of", dest="as_of", type=as_of_date, required=required, metavar="YYYY-MM-DD",
                        help="the date to evaluate on (the engine never reads the clock)")


def installation(guideline: str | None = None) -> Installation:
    """The installation as the NETFLOW_* environment describes it (`guideline`: e.g. --guideline)."""
    return Installation.from_settings(Settings.from_env(), guideline=guideline)


def run_id(given: str | None) -> str:
    """--run-id, else cli-<UTC timestamp>."""
    return given or f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
