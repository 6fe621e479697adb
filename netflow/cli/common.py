"""Helpers shared by the subcommands: dates, settings and the rule book."""

from __future__ import annotations

import argparse
from datetime import date

from netflow.cli import UsageError
from netflow.config import ConfigError, Settings
from netflow.domain.dates import parse_iso_date
from netflow.domain.rules import RuleBook
from netflow.guidelines import RuleSetError, load_rulebook

__all__ = ["add_as_of", "as_of_date", "rulebook", "settings"]


def as_of_date(text: str) -> date:
    """argparse type for --as-of: a strict YYYY-MM-DD date."""
    parsed = parse_iso_date(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"must be a date as YYYY-MM-DD, got {text!r}")
    return parsed


def add_as_of(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--as-of", dest="as_of", type=as_of_date, required=required, metavar="YYYY-MM-DD",
                        help="the date to evaluate on (the engine never reads the clock)")


def settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def rulebook(config: Settings, guideline: str | None = None) -> RuleBook:
    """The installation's rule book; `guideline` (e.g. --guideline) overrides its default."""
    try:
        book = load_rulebook(config.ruleset_files, "nccn")
    except RuleSetError as exc:
        raise UsageError(str(exc)) from None
    default = guideline or config.default_guideline
    if default not in book.ids:
        raise UsageError(f"unknown guideline {default!r}; known: {', '.join(book.ids)}")
    return book.with_default(default)
