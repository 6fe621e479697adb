"""Read-only questions the worklist pages ask of the patient database, one named function each.

    teams = care_team_names(engine)                      # {"gi-onc-east": "GI Oncology East", ...}
    record = find_record(engine, "MRN0000001")           # a PatientRecord with its imaging, or None
    history = patient_events(engine, "MRN0000001")       # every event, with the digest it went out in

Nothing here writes. Rows come back as frozen dataclasses (or domain records), never as SQLAlchemy
rows, so the pages never see a connection. Timestamps are UTC and time-zone aware (SQLite returns them naive).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select

from netflow.adapters import streaming
from netflow.adapters.patients import PATIENT_FIELDS
from netflow.adapters.tables import care_teams, events, imaging_studies, outbox, patients, quarantine, runs
from netflow.domain.record import FieldError, PatientRecord

__all__ = [
    "EventEntry",
    "QuarantineRow",
    "RunEntry",
    "care_team_names",
    "find_record",
    "open_quarantine_rows",
    "patient_events",
    "patient_quarantine_rows",
    "recent_runs",
    "team_patient_names",
]


@dataclass(frozen=True, slots=True)
class EventEntry:
    """One recorded event of a patient, and the digest it was put in (if any)."""

    id: int
    kind: str
    event_key: str
    window_open: date | None
    as_of: date
    run_id: str
    created_at: datetime | None
    payload: Mapping[str, Any]
    outbox_id: int | None
    outbox_status: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A row that failed validation and awaits a fix; the raw content stays in the database."""

    id: int
    source: str
    line_no: int
    record_key: str | None
    errors: tuple[FieldError, ...]
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One daily run as the `runs` table keeps it: counts only."""

    run_id: str
    as_of: date
    started_at: datetime | None
    finished_at: datetime | None
    summary: Mapping[str, Any]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def care_team_names(engine: Engine) -> dict[str, str]:
    """Every care team by key: the configured ones with their names, and team keys that only
    patients name (no configuration yet) under their key. Sorted by name, then key."""
    with engine.connect() as conn:
        names = {key: name for key, name in conn.execute(select(care_teams.c.key, care_teams.c.name))}
        for (key,) in conn.execute(select(patients.c.care_team).distinct()):
            names.setdefault(key, key)
    return dict(sorted(names.items(), key=lambda item: (item[1].casefold(), item[0])))


def team_patient_names(engine: Engine, team: str) -> dict[str, str | None]:
    """The recorded name of each patient of `team`, by patient_id."""
    query = select(patients.c.patient_id, patients.c.name).where(patients.c.care_team == team)
    with engine.connect() as conn:
        return {pid: name for pid, name in conn.execute(query)}


def find_record(engine: Engine, patient_id: str) -> PatientRecord | None:
    """The stored patient with its imaging, or None when no patient has this id."""
    people = select(*(patients.c[name] for name in PATIENT_FIELDS)).where(patients.c.patient_id == patient_id)
    i = imaging_studies.c
    scans = select(i.patient_id, i.date, i.modality).where(i.patient_id == patient_id).order_by(i.date, i.id)
    with engine.connect() as conn:
        return next(streaming.merged_records(conn, people, scans), None)


def patient_events(engine: Engine, patient_id: str) -> list[EventEntry]:
    """Every event recorded for the patient, oldest first, with its digest's id, status and send time."""
    e = events.c
    query = (select(e.id, e.kind, e.event_key, e.window_open, e.as_of, e.run_id, e.created_at, e.payload,
                    e.outbox_id, outbox.c.status, outbox.c.sent_at)
             .select_from(events.outerjoin(outbox, outbox.c.id == e.outbox_id))
             .where(e.patient_id == patient_id)
             .order_by(e.as_of, e.id))
    with engine.connect() as conn:
        return [EventEntry(row.id, row.kind, row.event_key, row.window_open, row.as_of, row.run_id,
                           _utc(row.created_at), json.loads(row.payload), row.outbox_id, row.status,
                           _utc(row.sent_at))
                for row in conn.execute(query)]


def _quarantine_rows(engine: Engine, patient_id: str | None) -> list[QuarantineRow]:
    q = quarantine.c
    query = (select(q.id, q.source, q.line_no, q.record_key, q.errors, q.created_at)
             .where(q.resolved_at.is_(None)).order_by(q.id))
    if patient_id is not None:
        query = query.where(q.record_key == patient_id)
    with engine.connect() as conn:
        return [QuarantineRow(row.id, row.source, row.line_no, row.record_key,
                              tuple(FieldError(str(err.get("field", "")), str(err.get("message", "")))
                                    for err in json.loads(row.errors)),
                              _utc(row.created_at))
                for row in conn.execute(query)]


def open_quarantine_rows(engine: Engine) -> list[QuarantineRow]:
    """Quarantined rows awaiting a fix (not resolved by a later valid record), oldest first."""
    return _quarantine_rows(engine, None)


def patient_quarantine_rows(engine: Engine, patient_id: str) -> list[QuarantineRow]:
    """The unresolved quarantined rows that carry this patient's MRN, oldest first."""
    return _quarantine_rows(engine, patient_id)


def recent_runs(engine: Engine, limit: int = 10) -> list[RunEntry]:
    """The latest daily runs, newest first (by start time), with their summary counts."""
    query = (select(runs.c.run_id, runs.c.as_of, runs.c.started_at, runs.c.finished_at, runs.c.summary)
             .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit))
    with engine.connect() as conn:
        return [RunEntry(row.run_id, row.as_of, _utc(row.started_at), _utc(row.finished_at),
                         json.loads(row.summary) if row.summary else {})
                for row in conn.execute(query)]
