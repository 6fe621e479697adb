"""`netflow remind`: evaluate the cohort, record events, build and send the care-team digests."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from netflow.adapters.db import scrubbed_errors
from netflow.cli import UsageError
from netflow.cli.common import add_as_of, settings
from netflow.cli.db import open_database
from netflow.config import ConfigError
from netflow.guidelines import RuleSetError
from netflow.services import remind, smtp_mailer

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "remind",
        help="record new events and send each care team its digest",
        description=(
            "Evaluate every patient on the as-of date, record the new events (each once), build one "
            "digest per care team into the outbox and send the outbox over one SMTP connection. "
            "Exit status: 0 when everything was sent, 1 when any message failed (the rest still go "
            "out; a rerun retries it) or the database failed mid-run (a rerun completes the run), 2 for a "
            "usage or configuration error."
        ),
        epilog="Mail settings: NETFLOW_SMTP_URL, NETFLOW_MAIL_FROM, NETFLOW_DATA_STEWARD, NETFLOW_PHI_LEVEL, "
               "NETFLOW_WORKLIST_URL, NETFLOW_MAX_ATTEMPTS.",
    )
    add_as_of(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="render everything, record nothing, send nothing")
    parser.add_argument("--eml-dir", type=Path, metavar="DIR",
                        help="with --dry-run: write each message as a .eml file to DIR")
    parser.add_argument("--team", action="append", metavar="KEY", dest="teams",
                        help="only these care teams (repeat for several)")
    parser.add_argument("--run-id", metavar="ID", help="a name for this run (default: cli-<UTC timestamp>)")
    parser.set_defaults(handler=run)


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


def run(args: argparse.Namespace) -> int:
    if args.eml_dir and not args.dry_run:
        raise UsageError("--eml-dir goes with --dry-run")
    config = settings()
    run_id = args.run_id or f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    try:
        mailer = None if args.dry_run else smtp_mailer(config)
        engine = open_database()
        try:
            with scrubbed_errors(), _quiet_driver_cleanup():
                result = remind(config, args.as_of, run_id, engine=engine, mailer=mailer, dry_run=args.dry_run,
                                eml_dir=args.eml_dir, teams=frozenset(args.teams) if args.teams else None)
        finally:
            engine.dispose()
    except (ConfigError, RuleSetError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    except SQLAlchemyError as exc:  # the database went away mid-run: one line, no traceback, no row data
        reason = " ".join(str(exc).split())[:300]
        print(f"netflow remind: error: the patient database failed mid-run ({reason}); what was committed "
              "is kept and nothing unconfirmed was marked sent: run the same command again", file=sys.stderr)
        return 1
    counts = result.as_counts()
    events = ", ".join(f"{n} {kind}" for kind, n in counts["events"].items()) or "none"
    print(f"{counts['evaluated']} patients evaluated on {args.as_of}" + (" (dry run)" if result.dry_run else ""))
    if result.recorded.replay:
        print("as-of date is before the latest recorded run: evaluated only, nothing new recorded")
    print(f"events: {events}")
    print(f"digests: {counts['digests']} team, {counts['steward_digests']} data steward")
    for team, waiting in counts["waiting_teams"].items():
        print(f"waiting: team {team} has no usable configuration (load it with 'netflow teams load'); "
              f"{waiting} event(s) kept for the next run")
    if result.dry_run:
        for path in result.eml_files:
            print(f"wrote {path}")
        return 0
    print(f"sent: {result.sent.sent}, retrying: {result.sent.retrying}, failed: {result.sent.failed}")
    for problem in result.sent.problems:
        print(f"problem: {problem}")
    return 0 if result.sent.ok else 1
