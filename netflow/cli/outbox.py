"""`netflow outbox list` and `netflow outbox retry`: see what waits to be sent, put failed messages back.

The listing shows ids, kinds, team keys, statuses, attempts, dates and the last error: never an address,
a subject or a body, so nothing about a patient.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from netflow.cli import UsageError
from netflow.cli.common import installation
from netflow.services.outbox import OUTBOX_STATUSES, OutboxEntry, OutboxListing, listing, retry

__all__ = ["register"]

HEADINGS = ("ID", "KIND", "TEAM", "AS OF", "STATUS", "ATTEMPTS", "CREATED (UTC)", "LAST ERROR")
ERROR_CHARS = 300  # of the last error, on one line


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "outbox", help="list the messages waiting to be sent, and requeue failed ones",
        description="The outbox holds every digest until the SMTP server accepts it. A message the server "
                    "refused NETFLOW_MAX_ATTEMPTS times is 'failed' and is not sent again until requeued.")
    commands = parser.add_subparsers(dest="outbox_command", metavar="COMMAND", required=True)

    show = commands.add_parser(
        "list", help="list outbox messages (default: pending and failed)",
        description="List outbox messages, newest first: id, kind, team key, as-of date, status, attempts, "
                    "when it was created and its last error. No patient data is shown.")
    show.add_argument("--status", choices=OUTBOX_STATUSES, help="only messages with this status "
                                                                "(default: pending and failed)")
    show.add_argument("--limit", type=int, default=100, metavar="N", help="show the newest N (default 100)")
    show.set_defaults(handler=run_list)

    again = commands.add_parser(
        "retry", help="put failed messages back to pending (attempts reset), to be sent by the next run",
        description="Put failed messages back to pending with their attempts reset to 0; the next daily run "
                    "or 'netflow remind' sends them. Who and when is kept in the message's row. Only failed "
                    "messages can be requeued: if any id given is not one, nothing is requeued (exit 2).")
    again.add_argument("ids", nargs="*", type=int, metavar="ID", help="outbox ids to requeue")
    again.add_argument("--failed", action="store_true", help="requeue every failed message (instead of ids)")
    again.add_argument("--by", metavar="NAME", help="who requeues them (default: the login name, $USER)")
    again.set_defaults(handler=run_retry)


def run_list(args: argparse.Namespace) -> int:
    with installation() as inst:
        found = listing(inst, args.status, args.limit)
    print(render(found))
    return 0


def run_retry(args: argparse.Namespace) -> int:
    if args.failed == bool(args.ids):
        raise UsageError("give outbox ids to requeue, or --failed for every failed message (not both)")
    by = args.by or _login_name()
    with installation() as inst:
        result = retry(inst, None if args.failed else args.ids, by)
    if not result.requeued:
        print("no failed message to requeue")
        return 0
    ids = ", ".join(map(str, result.requeued))
    print(f"requeued {len(result.requeued)} message(s) by {result.by}: {ids}; attempts reset to 0. "
          "The next daily run or 'netflow remind' sends them.")
    return 0


def render(found: OutboxListing) -> str:
    """The listing as aligned columns, then the counts by status."""
    what = " and ".join(found.statuses)
    lines = []
    if found.entries:
        lines.extend(_table([HEADINGS, *(_row(entry) for entry in found.entries)]))
        if len(found.entries) < found.total:
            lines.append(f"(the newest {len(found.entries)} of {found.total}; use --limit to see more)")
    else:
        lines.append(f"no {what} message")
    counts = ", ".join(f"{found.counts.get(status, 0)} {status}" for status in OUTBOX_STATUSES)
    lines.append(f"outbox: {counts}")
    if found.counts.get("failed"):
        lines.append("failed messages are not sent again until requeued: netflow outbox retry --failed (or ID...)")
    return "\n".join(lines)


def _row(entry: OutboxEntry) -> tuple[str, ...]:
    error = " ".join((entry.last_error or "").split())
    if len(error) > ERROR_CHARS:
        error = error[:ERROR_CHARS - 1] + "…"
    return (str(entry.id), entry.kind, entry.team_key or "(data steward)", entry.as_of.isoformat(), entry.status,
            str(entry.attempts), _when(entry.created_at), error or "-")


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
            for row in rows]


def _login_name() -> str:
    """Who is at the keyboard: $LOGNAME, $USER ... or the account's name (getpass's order)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
