"""`netflow report`: send each care team its weekly surveillance report (numbers and a chart)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from netflow.cli import UsageError
from netflow.cli.common import add_as_of, check_as_of_option, installation, run_id
from netflow.services.reports import ReportResult, weekly_report

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "report",
        help="send each care team its weekly surveillance report",
        description=(
            "Count every care team's worklist on the as-of date (due, overdue, escalated, windows closed "
            "on time in the last 90 days, data quality) and email it with a chart to the team's program "
            "leads (its navigators when it has no lead); the data steward gets the installation's data "
            "quality. Counts only, no patient data. One report per team and ISO week: a second run in the "
            "same week sends nothing. Exit status: 0 when every report went out, 1 when any failed (a "
            "rerun sends it), 2 for a usage or configuration error."
        ),
        epilog="Mail settings: NETFLOW_SMTP_URL, NETFLOW_MAIL_FROM, NETFLOW_DATA_STEWARD, NETFLOW_WORKLIST_URL.",
    )
    add_as_of(parser)
    parser.add_argument("--team", action="append", metavar="KEY", dest="teams",
                        help="only these care teams (repeat for several); no data steward report then")
    parser.add_argument("--dry-run", action="store_true", help="render every report, send and record nothing")
    parser.add_argument("--eml-dir", type=Path, metavar="DIR",
                        help="with --dry-run: write each report as a .eml file to DIR")
    parser.add_argument("--run-id", metavar="ID", help="a name for this run (default: cli-<UTC timestamp>)")
    parser.set_defaults(handler=run)


def _print(result: ReportResult) -> None:
    counts = result.as_counts()
    print(f"weekly report {counts['week']}" + (" (dry run)" if result.dry_run else "")
          + f": {counts['reports']} rendered")
    for team in counts["waiting_teams"]:
        print(f"waiting: team {team} has no usable configuration (load it with 'netflow teams load')")
    if counts["empty_teams"]:
        print(f"no patients: {', '.join(counts['empty_teams'])}")
    for path in result.eml_files:
        print(f"wrote {path}")
    if not result.dry_run:
        print(f"sent: {counts['sent']}, already sent this week: {counts['already_sent']}, "
              f"failed: {counts['failed']}")
    for problem in result.problems:
        print(f"problem: {problem}")


def run(args: argparse.Namespace) -> int:
    check_as_of_option(args)
    if args.eml_dir and not args.dry_run:
        raise UsageError("--eml-dir goes with --dry-run")
    with installation() as inst:
        result = weekly_report(inst, args.as_of, run_id(args.run_id), dry_run=args.dry_run, eml_dir=args.eml_dir,
                               teams=args.teams)
    _print(result)
    return 0 if result.ok else 1
