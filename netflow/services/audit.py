"""The audit trail: who viewed which patient, who recorded which follow-up action, who exported what.

    audit(inst, user="jdoe", action="view_patient", patient_id="MRN1", team="gi-onc-east")
    for entry in audit_since(inst, date(2026, 12, 1)): ...       # oldest first, UTC times
    export_csv(inst, date(2026, 12, 1), out, user="alice")        # a compliance officer's CSV; returns the rows

Rows are appended and never updated or deleted by netflow (45 CFR 164.312(b) asks for audit controls);
keeping or archiving them is the database administrator's. A follow-up action writes its audit row in the
transaction that records it (netflow.services.followups), so neither exists without the other.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TextIO

from netflow.adapters.followups import AuditEntry
from netflow.installation import Installation

__all__ = ["AUDIT_ACTIONS", "CSV_HEADER", "AuditEntry", "audit", "audit_since", "export_csv"]

AUDIT_ACTIONS = ("view_patient", "follow_up", "withdraw", "export", "view_audit")
CSV_HEADER = ("at", "user", "action", "patient_id", "team", "detail")
USER_CHARS = 100  # audit_log.username
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula (OWASP CSV injection)


def check_user(user: str) -> str:
    """The user name as stored: trimmed, 1 to 100 characters, printable (ValueError otherwise: a caller's bug,
    the web side and the CLI always know who is acting)."""
    name = user.strip()
    if not name or len(name) > USER_CHARS or not name.isprintable():
        raise ValueError(f"a user name must be 1 to {USER_CHARS} printable characters")
    return name


def audit(inst: Installation, *, user: str, action: str, patient_id: str | None = None, team: str | None = None,
          detail: str | None = None) -> None:
    """Append one audit row now (its own transaction). `action` is one of AUDIT_ACTIONS (ValueError else)."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {', '.join(AUDIT_ACTIONS)}")
    inst.db.follow_ups.add_audit(username=check_user(user), action=action, patient_id=patient_id, team_key=team,
                                 detail=detail)


def audit_since(inst: Installation, since: date) -> Iterator[AuditEntry]:
    """Every audit row from `since` (00:00 UTC) on, oldest first, streamed a page at a time."""
    return inst.db.follow_ups.audit_since(datetime(since.year, since.month, since.day, tzinfo=UTC))


def export_csv(inst: Installation, since: date, out: TextIO, *, user: str) -> int:
    """Write the audit rows from `since` on as CSV (header at, user, action, patient_id, team, detail; times in
    UTC ISO 8601) and return how many. The export is itself audited first, so it lists itself. A value that a
    spreadsheet would take for a formula (starting with = + - @) is written with a leading apostrophe."""
    audit(inst, user=user, action="export", detail=f"audit log since {since.isoformat()}")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    written = 0
    for entry in audit_since(inst, since):
        writer.writerow((entry.at.astimezone(UTC).isoformat(), *map(_cell, (
            entry.user, entry.action, entry.patient_id, entry.team, entry.detail))))
        written += 1
    return written


def _cell(value: str | None) -> str:
    """A CSV cell a spreadsheet shows as text: a value that would start a formula gets a leading apostrophe."""
    text = value or ""
    return f"'{text}" if text.startswith(FORMULA_START) else text
