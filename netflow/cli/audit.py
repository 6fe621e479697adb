"""`netflow audit export --since YYYY-MM-DD [--out FILE]`: the audit trail as CSV for a compliance officer.

    netflow audit export --since 2026-12-01 --out audit-december.csv

Columns: at (UTC, ISO 8601), user, action, patient_id, team, detail; oldest first. The export is itself
written to the audit trail (action "export", by --by or the login name) before the rows are read. The CSV
holds patient ids (MRNs): keep it where the audit log itself may be kept.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from netflow.cli.common import as_of_date, installation
from netflow.services.audit import export_csv

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "audit", help="export the audit trail (views, follow-up actions, exports) as CSV",
        description="The audit trail records who viewed which patient, who recorded or withdrew which follow-up "
                    "action and who exported what. netflow appends to it and never changes it.")
    commands = parser.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    export = commands.add_parser(
        "export", help="write the audit rows from a date on as CSV",
        description="Write every audit row from --since (00:00 UTC) on as CSV, oldest first: at (UTC, ISO "
                    "8601), user, action, patient_id, team, detail. The export itself is audited.")
    export.add_argument("--since", type=as_of_date, required=True, metavar="YYYY-MM-DD",
                        help="the first day (UTC) to export")
    export.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (default: standard output)")
    export.add_argument("--by", metavar="NAME", help="who exports, as audited (default: the login name, $USER)")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    by = args.by or _login_name()
    with installation() as inst:
        if args.out is None:
            written = export_csv(inst, args.since, sys.stdout, user=by)
        else:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                written = export_csv(inst, args.since, out, user=by)
    where = "" if args.out is None else f" to {args.out}"
    print(f"exported {written} audit row(s) since {args.since.isoformat()}{where}", file=sys.stderr)
    return 0


def _login_name() -> str:
    """Who is at the keyboard: $LOGNAME, $USER ... or the account's name (getpass's order)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
