"""`netflow rules`: the clinical review sheet of the installation's rule sets, on standard output.

    netflow rules --format markdown > docs/rules.md     # the sheet kept in the repository
    netflow rules --format text                         # the same, as plain text

Reads the rule set files only (the built-ins and NETFLOW_RULESETS); no database is opened.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from netflow.config import Settings
from netflow.guidelines import load_book
from netflow.guidelines.review import FORMATS

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "rules",
        help="print the rule sets in plain words, for a clinician to review",
        description=(
            "Print every rule of every rule set the installation knows (the built-in ones and those listed in "
            "NETFLOW_RULESETS), in order, in plain words: which patients it applies to, its schedule, what "
            "counts as the scan, what it recommends, its source and any project choice, with a sign-off table "
            "per rule set. docs/rules.md is this command's Markdown output for the built-in rule sets."
        ),
    )
    parser.add_argument("--format", choices=sorted(FORMATS), default="markdown",
                        help="markdown (the default; docs/rules.md) or plain text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    book = load_book(Settings.from_env())
    sys.stdout.write(FORMATS[args.format](book))
    sys.stdout.flush()
    return 0
