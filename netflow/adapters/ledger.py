"""The reminder ledger: events, outbox and runs. One named function per question; SQL lives here.

Every write that must happen once is keyed by a unique constraint and inserted with
ON CONFLICT DO NOTHING, so a rerun, a retried task or a second scheduler changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from netflow.adapters.bulk import insert_many
from netflow.adapters.db import by_code_point, dialect_insert
from netflow.adapters.tables import care_teams, events, outbox, patients, quarantine, runs, team_members, utcnow
from netflow.domain.events import SEVERITY, NewEvent, PastEvent
from netflow.teams import CareTeam

__all__ = [
    "StoredEvent", "OutboxMessage", "insert_ignore", "start_run", "finish_run",
    "latest_other_run_as_of", "iter_event_history", "record_events", "unassigned_counts", "iter_unassigned_events",
    "patient_names",
    "care_team_directory", "create_outbox_message", "pending_messages", "mark_sent", "mark_attempt_failed",
    "unreported_quarantine", "mark_quarantine_reported", "outbox_counts",
]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event recorded and not yet put in a digest."""

    id: int
    patient_id: str
    care_team: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A digest waiting in the outbox (or already sent)."""

    id: int
    kind: str
    team_key: str | None
    message_id: str
    subject: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    body_text: str
    body_html: str
    status: str
    attempts: int


def insert_ignore(conn: Connection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


# Runs -------------------------------------------------------------------------------------------

def start_run(conn: Connection, run_id: str, as_of: date) -> None:
    conn.execute(insert_ignore(conn, runs), {"run_id": run_id, "as_of": as_of, "started_at": utcnow()})


def finish_run(conn: Connection, run_id: str, summary: dict[str, Any]) -> None:
    conn.execute(update(runs).where(runs.c.run_id == run_id)
                 .values(finished_at=utcnow(), summary=json.dumps(summary, sort_keys=True)))


def latest_other_run_as_of(conn: Connection, run_id: str) -> date | None:
    """The latest as-of date any other run recorded events for (the replay guard)."""
    value = conn.execute(select(func.max(runs.c.as_of)).where(runs.c.run_id != run_id)).scalar()
    return value if isinstance(value, date) else None


# Events -----------------------------------------------------------------------------------------

def _past(kind: str, key: str, payload: str) -> PastEvent:
    if kind not in SEVERITY:
        return PastEvent(kind, key)
    data = json.loads(payload)
    last_scan, close = data.get("last_scan"), data.get("window_close")
    return PastEvent(kind, key, date.fromisoformat(last_scan) if last_scan else None,
                     date.fromisoformat(close) if close else None)


def iter_event_history(conn: Connection, shard: int = 0, shards: int = 1
                       ) -> Iterator[tuple[str, list[PastEvent]]]:
    """Every patient's recorded events, grouped by patient, in code-point patient_id order (streamed)."""
    query = select(events.c.patient_id, events.c.kind, events.c.event_key, events.c.payload)
    if shards > 1:
        query = query.join(patients, patients.c.patient_id == events.c.patient_id).where(
            patients.c.bucket % shards == shard)
    query = query.order_by(by_code_point(conn, events.c.patient_id))
    current: str | None = None
    group: list[PastEvent] = []
    for patient_id, kind, key, payload in conn.execute(query, execution_options={"yield_per": 5000}):
        if patient_id != current:
            if current is not None:
                yield current, group
            current, group = patient_id, []
        group.append(_past(kind, key, payload))
    if current is not None:
        yield current, group


EVENT_ROW = ("patient_id", "care_team", "kind", "event_key", "window_open", "as_of", "run_id", "payload", "created_at")


def record_events(conn: Connection, new: Sequence[NewEvent], as_of: date, run_id: str) -> list[NewEvent]:
    """Insert events; those another run already recorded are skipped. Returns the ones inserted."""
    if not new:
        return []
    now = utcnow()
    encode = json.JSONEncoder(ensure_ascii=False).encode
    rows = [(e.patient_id, e.care_team, e.kind, e.key, e.window_open, as_of, run_id, encode(e.payload), now)
            for e in new]
    inserted = set(insert_many(conn, events, EVENT_ROW, rows, "ON CONFLICT DO NOTHING",
                               returning=("patient_id", "kind", "event_key")))
    return [e for e in new if (e.patient_id, e.kind, e.key) in inserted]


def unassigned_counts(conn: Connection, teams: Iterable[str] | None = None) -> dict[str, int]:
    """How many events of each team are in no digest yet (closed events never go in one)."""
    query = select(events.c.care_team, func.count()).where(
        events.c.outbox_id.is_(None), events.c.kind != "closed").group_by(events.c.care_team)
    if teams is not None:
        query = query.where(events.c.care_team.in_(list(teams)))
    return {team: int(n) for team, n in conn.execute(query)}


def iter_unassigned_events(conn: Connection, team: str) -> Iterator[StoredEvent]:
    """One team's events that are in no digest yet, streamed in the order they were recorded."""
    query = select(events.c.id, events.c.patient_id, events.c.care_team, events.c.kind, events.c.payload).where(
        events.c.outbox_id.is_(None), events.c.kind != "closed", events.c.care_team == team)
    for i, p, t, k, payload in conn.execute(query.order_by(events.c.id), execution_options={"yield_per": 5000}):
        yield StoredEvent(i, p, t, k, json.loads(payload))


def patient_names(conn: Connection, patient_ids: Sequence[str]) -> dict[str, str | None]:
    names: dict[str, str | None] = {}
    for start in range(0, len(patient_ids), 500):
        chunk = list(patient_ids[start:start + 500])
        query = select(patients.c.patient_id, patients.c.name).where(patients.c.patient_id.in_(chunk))
        names.update({pid: name for pid, name in conn.execute(query)})
    return names


def care_team_directory(conn: Connection) -> dict[str, CareTeam]:
    """Every configured care team with its members, by key."""
    members: dict[str, dict[str, list[str]]] = {}
    query = select(team_members.c.team_key, team_members.c.role, team_members.c.email).order_by(team_members.c.id)
    for key, role, email in conn.execute(query):
        members.setdefault(key, {}).setdefault(role, []).append(email)
    directory = {}
    for key, name, guideline in conn.execute(select(care_teams.c.key, care_teams.c.name, care_teams.c.guideline)):
        roles = members.get(key, {})
        directory[key] = CareTeam(key=key, name=name, guideline=guideline,
                                  navigators=tuple(roles.get("navigator", ())),
                                  attendings=tuple(roles.get("attending", ())),
                                  leads=tuple(roles.get("lead", ())))
    return directory


# Outbox -----------------------------------------------------------------------------------------

def create_outbox_message(conn: Connection, *, kind: str, team_key: str | None, run_id: str, as_of: date,
                          message_id: str, subject: str, sender: str, to: Sequence[str], cc: Sequence[str],
                          body_text: str, body_html: str, event_ids: Sequence[int] = ()) -> int:
    """Write a digest to the outbox and attach its events (call inside the caller's transaction)."""
    outbox_id = conn.execute(outbox.insert().returning(outbox.c.id), {
        "kind": kind, "team_key": team_key, "run_id": run_id, "as_of": as_of, "message_id": message_id,
        "subject": subject, "sender": sender, "to_addrs": json.dumps(list(to)), "cc_addrs": json.dumps(list(cc)),
        "body_text": body_text, "body_html": body_html, "status": "pending", "attempts": 0,
        "created_at": utcnow(),
    }).scalar_one()
    for start in range(0, len(event_ids), 5000):
        chunk = list(event_ids[start:start + 5000])
        conn.execute(update(events).where(and_(events.c.id.in_(chunk), events.c.outbox_id.is_(None)))
                     .values(outbox_id=outbox_id))
    return int(outbox_id)


def pending_messages(conn: Connection, teams: Iterable[str] | None = None) -> list[OutboxMessage]:
    query = select(outbox).where(outbox.c.status == "pending")
    if teams is not None:
        query = query.where(outbox.c.team_key.in_(list(teams)))
    return [
        OutboxMessage(id=r.id, kind=r.kind, team_key=r.team_key, message_id=r.message_id, subject=r.subject,
                      sender=r.sender, to=tuple(json.loads(r.to_addrs)), cc=tuple(json.loads(r.cc_addrs)),
                      body_text=r.body_text, body_html=r.body_html, status=r.status, attempts=r.attempts)
        for r in conn.execute(query.order_by(outbox.c.id))
    ]


def mark_sent(conn: Connection, outbox_id: int) -> None:
    conn.execute(update(outbox).where(outbox.c.id == outbox_id)
                 .values(status="sent", sent_at=utcnow(), attempts=outbox.c.attempts + 1, last_error=None))


def mark_attempt_failed(conn: Connection, outbox_id: int, error: str, max_attempts: int) -> str:
    """Count a failed attempt; the message is failed for good after `max_attempts`. Returns the status."""
    attempts = conn.execute(update(outbox).where(outbox.c.id == outbox_id)
                            .values(attempts=outbox.c.attempts + 1, last_error=error[:2000])
                            .returning(outbox.c.attempts)).scalar_one()
    status = "failed" if attempts >= max_attempts else "pending"
    if status == "failed":
        conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(status="failed"))
    return status


def outbox_counts(conn: Connection, run_id: str | None = None) -> dict[str, int]:
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    if run_id is not None:
        query = query.where(outbox.c.run_id == run_id)
    return {status: int(n) for status, n in conn.execute(query)}


# Quarantine reporting ---------------------------------------------------------------------------

def unreported_quarantine(conn: Connection) -> list[dict[str, Any]]:
    query = select(quarantine.c.id, quarantine.c.source, quarantine.c.line_no, quarantine.c.record_key,
                   quarantine.c.errors).where(quarantine.c.reported_at.is_(None),
                                              quarantine.c.resolved_at.is_(None)).order_by(quarantine.c.id)
    return [{"id": i, "source": s, "line_no": n, "record_key": k, "errors": json.loads(e)}
            for i, s, n, k, e in conn.execute(query)]


def mark_quarantine_reported(conn: Connection, ids: Sequence[int]) -> None:
    now = utcnow()
    for start in range(0, len(ids), 500):
        conn.execute(update(quarantine).where(quarantine.c.id.in_(list(ids[start:start + 500])))
                     .values(reported_at=now))
