"""`netflow remind`: evaluate the cohort, record events, build and send the care-team digests."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from netflow.cli import UsageError
from netflow.cli.common import add_as_of, check_as_of_option, installation, run_id
from netflow.services.daily import RemindResult, remind

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "remind",
        help="record new events and send each care team its digest",
        description=(
            "Evaluate every patient on the as-of date, record the new events (each once), build one "
            "digest per care team into the outbox and send the outbox over one SMTP connection. "
            "Only the server refusing a message counts as an attempt (NETFLOW_MAX_ATTEMPTS); when the "
            "server cannot be reached, or TLS or the login fails, every message stays pending as it was. "
            "Exit status: 0 when everything was sent, 1 when any message was not sent (the rest still go "
            "out; a rerun retries it), the mail server could not be used (nothing lost: run again once it "
            "is back) or the database failed mid-run (a rerun completes the run), 2 for a usage or "
            "configuration error. 'netflow outbox list' shows what is waiting."
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
    parser.add_argument("--full", action="store_true",
                        help="evaluate every patient, not only those whose evaluation can have changed since the "
                             "last run (after a rules change, or to check)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    check_as_of_option(args)
    if args.eml_dir and not args.dry_run:
        raise UsageError("--eml-dir goes with --dry-run")
    with installation() as inst:
        result = remind(inst, args.as_of, run_id(args.run_id), dry_run=args.dry_run, eml_dir=args.eml_dir,
                        teams=frozenset(args.teams) if args.teams else None, full=args.full)
    _print(result, args.as_of)
    if result.sent.outage is not None:
        print(f"netflow remind: error: {result.sent.outage}", file=sys.stderr)
    return 0 if result.dry_run or result.sent.ok else 1


def _print(result: RemindResult, as_of: date) -> None:
    counts = result.as_counts()
    events = ", ".join(f"{n} {kind}" for kind, n in counts["events"].items()) or "none"
    unchanged = result.recorded.unchanged
    print(f"{counts['evaluated']} patients evaluated on {as_of}" + (" (dry run)" if result.dry_run else "")
          + (f", {unchanged} of them unchanged since their last evaluation" if unchanged else ""))
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
        return
    print(f"sent: {result.sent.sent}, retrying: {result.sent.retrying}, failed: {result.sent.failed}")
    for problem in result.sent.problems:
        print(f"problem: {problem}")
