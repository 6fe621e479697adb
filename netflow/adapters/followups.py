"""Follow-up actions and the audit trail: the `follow_ups` and `audit_log` tables. One named method per
question; their SQL lives here and nowhere else.

    store = FollowUpStore(engine)                      # reads, and single writes in their own transaction
    store.follow_ups_of(["MRN1", "MRN2"])              # {patient_id: [FollowUp, ...]} newest first
    with database.transaction() as tx:                 # an action, its imaging entry and its audit row
        follow_up = tx.follow_ups.add_follow_up(...)
        tx.patients.add_imaging(...)
        tx.follow_ups.add_audit(...)
    for entry in store.audit_since(datetime(2026, 12, 1, tzinfo=UTC)): ...

Both tables are append-only: this module inserts and reads, it never updates or deletes a row (a test
holds it to that). A withdrawal is a new follow-up row naming the one it withdraws.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from netflow.adapters.db import as_utc, by_code_point, scrubbed_errors
from netflow.adapters.tables import audit_log, follow_ups, utcnow
from netflow.domain.followups import FollowUp

__all__ = ["AUDIT_PAGE", "AuditEntry", "FollowUpStore", "FollowUpWriter"]

AUDIT_PAGE = 5000  # audit rows read per query while streaming an export
_COLUMNS = ("id", "patient_id", "care_team", "action", "date", "until", "modality", "reason", "note", "withdraws",
            "recorded_by", "recorded_at")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row: who did what, when (UTC), to which patient and team."""

    id: int
    at: datetime
    user: str
    action: str
    patient_id: str | None
    team: str | None
    detail: str | None


def _follow_up(row: Any) -> FollowUp:
    recorded_at = as_utc(row.recorded_at)
    assert recorded_at is not None
    return FollowUp(id=row.id, patient_id=row.patient_id, care_team=row.care_team, action=row.action,
                    date=row.date, until=row.until, modality=row.modality, reason=row.reason, note=row.note,
                    withdraws=row.withdraws, recorded_by=row.recorded_by, recorded_at=recorded_at)


def _newest_first(found: list[FollowUp]) -> list[FollowUp]:
    return sorted(found, key=lambda f: (f.recorded_at, f.id), reverse=True)


class FollowUpWriter:
    """Follow-ups and audit rows inside one transaction (the caller's connection)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_follow_up(self, *, patient_id: str, care_team: str, action: str, recorded_by: str,
                      date: date | None = None, until: date | None = None, modality: str | None = None,
                      reason: str | None = None, note: str | None = None, withdraws: int | None = None,
                      recorded_at: datetime | None = None) -> FollowUp:
        """Append one action (or withdrawal, with `withdraws`); returns it as stored, with its id."""
        values = {"patient_id": patient_id, "care_team": care_team, "action": action, "date": date, "until": until,
                  "modality": modality, "reason": reason, "note": note, "withdraws": withdraws,
                  "recorded_by": recorded_by, "recorded_at": recorded_at or utcnow()}
        new_id = self._conn.execute(follow_ups.insert().returning(follow_ups.c.id), values).scalar_one()
        stored = self.follow_up(int(new_id))
        assert stored is not None, "a follow-up is readable in the transaction that inserted it"
        return stored

    def follow_up(self, follow_up_id: int) -> FollowUp | None:
        """One action by id, or None."""
        query = select(*(follow_ups.c[name] for name in _COLUMNS)).where(follow_ups.c.id == follow_up_id)
        row = self._conn.execute(query).one_or_none()
        return None if row is None else _follow_up(row)

    def follow_ups_for(self, patient_id: str) -> list[FollowUp]:
        """Every action of the patient, withdrawals included, newest first."""
        query = select(*(follow_ups.c[name] for name in _COLUMNS)).where(follow_ups.c.patient_id == patient_id)
        return _newest_first([_follow_up(row) for row in self._conn.execute(query)])

    def follow_ups_of(self, patient_ids: Collection[str]) -> dict[str, list[FollowUp]]:
        """The actions of these patients (those that have any), each list newest first: ONE query over the
        code-point range of the ids, whatever their number (a batch of a recording run), filtered here."""
        wanted = set(patient_ids)
        if not wanted:
            return {}
        pid = follow_ups.c.patient_id
        column = by_code_point(self._conn, pid)
        query = (select(*(follow_ups.c[name] for name in _COLUMNS))
                 .where(column >= min(wanted), column <= max(wanted)))
        found: dict[str, list[FollowUp]] = {}
        for row in self._conn.execute(query):
            if row.patient_id in wanted:
                found.setdefault(row.patient_id, []).append(_follow_up(row))
        return {key: _newest_first(value) for key, value in found.items()}

    def add_audit(self, *, username: str, action: str, patient_id: str | None = None, team_key: str | None = None,
                  detail: str | None = None, at: datetime | None = None) -> None:
        """Append one audit row (UTC `at`, now unless given)."""
        self._conn.execute(audit_log.insert(), {"at": at or utcnow(), "username": username, "action": action,
                                                "patient_id": patient_id, "team_key": team_key, "detail": detail})

    def audit_page(self, since: datetime, after_id: int, limit: int) -> list[AuditEntry]:
        """Up to `limit` audit rows at or after `since` with an id above `after_id`, in id (time) order."""
        a = audit_log.c
        query = (select(a.id, a.at, a.username, a.action, a.patient_id, a.team_key, a.detail)
                 .where(a.at >= since, a.id > after_id).order_by(a.id).limit(limit))
        return [AuditEntry(r.id, as_utc(r.at) or since, r.username, r.action, r.patient_id, r.team_key, r.detail)
                for r in self._conn.execute(query)]


class FollowUpStore:
    """Follow-ups and the audit trail behind one engine: each method is one transaction of its own; an action
    with its audit row (and imaging entry) goes through `Database.transaction()` instead."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _writer(self) -> Iterator[FollowUpWriter]:
        with scrubbed_errors(), self.engine.begin() as conn:
            yield FollowUpWriter(conn)

    def follow_up(self, follow_up_id: int) -> FollowUp | None:
        with self._writer() as w:
            return w.follow_up(follow_up_id)

    def follow_ups_for(self, patient_id: str) -> list[FollowUp]:
        with self._writer() as w:
            return w.follow_ups_for(patient_id)

    def follow_ups_of(self, patient_ids: Collection[str]) -> dict[str, list[FollowUp]]:
        with self._writer() as w:
            return w.follow_ups_of(patient_ids)

    def add_audit(self, *, username: str, action: str, patient_id: str | None = None, team_key: str | None = None,
                  detail: str | None = None) -> None:
        with self._writer() as w:
            w.add_audit(username=username, action=action, patient_id=patient_id, team_key=team_key, detail=detail)

    def audit_since(self, since: datetime, page: int = AUDIT_PAGE) -> Iterator[AuditEntry]:
        """Every audit row at or after `since`, oldest first: one short query per page of `page` rows, so an
        export of years of rows holds no connection between pages and little memory."""
        after = 0
        while True:
            with self._writer() as w:
                rows = w.audit_page(since, after, page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].id
