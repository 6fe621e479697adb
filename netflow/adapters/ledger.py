"""The reminder ledger: the `events`, `outbox` and `runs` tables. One named method per question; their SQL
lives here and nowhere else.

    ledger = Ledger(engine)                          # reads, and single writes in their own transaction
    ledger.start_run("daily-1", date(2026, 12, 1))
    for patient_id, past in ledger.iter_event_history(shard=0, shards=2): ...
    with database.transaction(lock="build") as tx:   # several writes in one transaction: tx.ledger
        tx.ledger.create_outbox_message(...)

Every write that must happen once is keyed by a unique constraint and inserted with
ON CONFLICT DO NOTHING, so a rerun, a retried task or a second scheduler changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, update

from netflow.adapters.bulk import insert_many
from netflow.adapters.db import by_code_point, dialect_insert, scrubbed_errors
from netflow.adapters.tables import events, outbox, patients, runs, utcnow
from netflow.batching import IN_LIST, batched
from netflow.domain.events import SEVERITY, NewEvent, PastEvent

__all__ = ["OUTBOX_STATUSES", "ClosedEvent", "EventEntry", "Ledger", "LedgerWriter", "OutboxEntry", "OutboxMessage",
           "RunEntry", "StoredEvent"]

ID_LIST = 5000  # event ids per UPDATE ... WHERE id IN (...)
OUTBOX_STATUSES = ("pending", "sent", "failed")
ERROR_CHARS = 2000  # outbox.last_error keeps this much


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


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox row as an operator lists it: no address, body or subject (nothing about a patient)."""

    id: int
    kind: str
    team_key: str | None
    as_of: date
    status: str
    attempts: int
    created_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    requeued_at: datetime | None
    requeued_by: str | None


@dataclass(frozen=True, slots=True)
class ClosedEvent:
    """A window met by a scan: the `closed` event's team, patient, window close and scan date."""

    care_team: str
    patient_id: str
    window_close: date | None
    closed_by_scan: date


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
class RunEntry:
    """One daily run as the `runs` table keeps it: counts only."""

    run_id: str
    as_of: date
    started_at: datetime | None
    finished_at: datetime | None
    summary: Mapping[str, Any]


def _utc(value: datetime | None) -> datetime | None:
    """Timestamps are UTC; SQLite returns them naive."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _past(kind: str, key: str, payload: str) -> PastEvent:
    if kind == "closed":
        return PastEvent(kind, key)
    data = json.loads(payload)
    last_scan, close, as_of = data.get("last_scan"), data.get("window_close"), data.get("as_of")
    return PastEvent(kind, key, date.fromisoformat(last_scan) if last_scan and kind in SEVERITY else None,
                     date.fromisoformat(close) if close and kind in SEVERITY else None,
                     data.get("rule_id") or data.get("status"), data.get("rules_version"),
                     date.fromisoformat(as_of) if as_of else None)


EVENT_ROW = ("patient_id", "care_team", "kind", "event_key", "window_open", "as_of", "run_id", "payload", "created_at")


class LedgerWriter:
    """The ledger's questions and writes inside one transaction (the caller's connection)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # Runs

    def start_run(self, run_id: str, as_of: date) -> None:
        self._conn.execute(dialect_insert(self._conn, runs).on_conflict_do_nothing(),
                           {"run_id": run_id, "as_of": as_of, "started_at": utcnow()})

    def finish_run(self, run_id: str, summary: Mapping[str, Any]) -> None:
        self._conn.execute(update(runs).where(runs.c.run_id == run_id)
                           .values(finished_at=utcnow(), summary=json.dumps(summary, sort_keys=True)))

    def latest_other_run_as_of(self, run_id: str) -> date | None:
        """The latest as-of date any other run recorded events for (the replay guard)."""
        value = self._conn.execute(select(func.max(runs.c.as_of)).where(runs.c.run_id != run_id)).scalar()
        return value if isinstance(value, date) else None

    # Events

    def record_events(self, new: Sequence[NewEvent], as_of: date, run_id: str) -> list[NewEvent]:
        """Insert events; those another run already recorded are skipped. Returns the ones inserted."""
        if not new:
            return []
        now = utcnow()
        encode = json.JSONEncoder(ensure_ascii=False).encode
        rows = [(e.patient_id, e.care_team, e.kind, e.key, e.window_open, as_of, run_id, encode(e.payload), now)
                for e in new]
        inserted = set(insert_many(self._conn, events, EVENT_ROW, rows, "ON CONFLICT DO NOTHING",
                                   returning=("patient_id", "kind", "event_key")))
        return [e for e in new if (e.patient_id, e.kind, e.key) in inserted]

    def unassigned_counts(self, teams: Iterable[str] | None = None) -> dict[str, int]:
        """How many events of each team are in no digest yet (closed events never go in one)."""
        query = select(events.c.care_team, func.count()).where(
            events.c.outbox_id.is_(None), events.c.kind != "closed").group_by(events.c.care_team)
        if teams is not None:
            query = query.where(events.c.care_team.in_(list(teams)))
        return {team: int(n) for team, n in self._conn.execute(query)}

    def unassigned_patients(self, team: str, kind: str) -> set[str]:
        """The patients of `team` with an event of `kind` in no digest yet."""
        query = select(events.c.patient_id).where(events.c.outbox_id.is_(None), events.c.kind == kind,
                                                  events.c.care_team == team).distinct()
        return {pid for (pid,) in self._conn.execute(query)}

    def iter_unassigned_events(self, team: str) -> Iterator[StoredEvent]:
        """One team's events that are in no digest yet, streamed in the order they were recorded."""
        query = select(events.c.id, events.c.patient_id, events.c.care_team, events.c.kind, events.c.payload).where(
            events.c.outbox_id.is_(None), events.c.kind != "closed", events.c.care_team == team)
        rows = self._conn.execute(query.order_by(events.c.id), execution_options={"yield_per": 5000})
        for i, p, t, k, payload in rows:
            yield StoredEvent(i, p, t, k, json.loads(payload))

    # Outbox

    def create_outbox_message(self, *, kind: str, team_key: str | None, run_id: str, as_of: date,
                              message_id: str, subject: str, sender: str, to: Sequence[str], cc: Sequence[str],
                              body_text: str, body_html: str, event_ids: Sequence[int] = (),
                              status: str = "pending") -> int:
        """Write a message to the outbox and attach its events; returns its outbox id."""
        sent = status == "sent"
        outbox_id = self._conn.execute(outbox.insert().returning(outbox.c.id), {
            "kind": kind, "team_key": team_key, "run_id": run_id, "as_of": as_of, "message_id": message_id,
            "subject": subject, "sender": sender, "to_addrs": json.dumps(list(to)),
            "cc_addrs": json.dumps(list(cc)), "body_text": body_text, "body_html": body_html, "status": status,
            "attempts": 1 if sent else 0, "created_at": utcnow(), "sent_at": utcnow() if sent else None,
        }).scalar_one()
        for chunk in batched(event_ids, ID_LIST):
            self._conn.execute(update(events).where(and_(events.c.id.in_(chunk), events.c.outbox_id.is_(None)))
                               .values(outbox_id=outbox_id))
        return int(outbox_id)

    def set_message_id(self, outbox_id: int, message_id: str) -> None:
        self._conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(message_id=message_id))

    def sent_message_ids(self, message_ids: Collection[str]) -> set[str]:
        """Which of these Message-IDs are already in the outbox."""
        found: set[str] = set()
        for chunk in batched(message_ids, IN_LIST):
            query = select(outbox.c.message_id).where(outbox.c.message_id.in_(chunk))
            found.update(m for (m,) in self._conn.execute(query))
        return found

    def pending_messages(self, teams: Iterable[str] | None = None) -> list[OutboxMessage]:
        """The pending messages, oldest first (the columns a send needs, named: a newer column never breaks it)."""
        o = outbox.c
        query = select(o.id, o.kind, o.team_key, o.message_id, o.subject, o.sender, o.to_addrs, o.cc_addrs,
                       o.body_text, o.body_html, o.status, o.attempts).where(o.status == "pending")
        if teams is not None:
            query = query.where(outbox.c.team_key.in_(list(teams)))
        return [
            OutboxMessage(id=r.id, kind=r.kind, team_key=r.team_key, message_id=r.message_id, subject=r.subject,
                          sender=r.sender, to=tuple(json.loads(r.to_addrs)), cc=tuple(json.loads(r.cc_addrs)),
                          body_text=r.body_text, body_html=r.body_html, status=r.status, attempts=r.attempts)
            for r in self._conn.execute(query.order_by(outbox.c.id))
        ]

    def mark_sent(self, outbox_id: int) -> None:
        self._conn.execute(update(outbox).where(outbox.c.id == outbox_id)
                           .values(status="sent", sent_at=utcnow(), attempts=outbox.c.attempts + 1, last_error=None))

    def mark_attempt_failed(self, outbox_id: int, error: str, max_attempts: int) -> str:
        """Count a failed attempt (the server refused the message itself); the message is failed for good after
        `max_attempts`. Returns the status."""
        attempts = self._conn.execute(update(outbox).where(outbox.c.id == outbox_id)
                                      .values(attempts=outbox.c.attempts + 1, last_error=error[:ERROR_CHARS])
                                      .returning(outbox.c.attempts)).scalar_one()
        status = "failed" if attempts >= max_attempts else "pending"
        if status == "failed":
            self._conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(status="failed"))
        return status

    def note_error(self, outbox_ids: Sequence[int], error: str) -> None:
        """Keep `error` as the last error of these pending messages without counting an attempt: the server was
        not reached, or the connection was lost, so nothing was decided about them. Status and attempts stay."""
        for chunk in batched(outbox_ids, IN_LIST):
            self._conn.execute(update(outbox).where(outbox.c.id.in_(chunk), outbox.c.status == "pending")
                               .values(last_error=error[:ERROR_CHARS]))

    def outbox_counts(self, run_id: str | None = None) -> dict[str, int]:
        """Messages by status (pending, sent, failed), of one run or all; a status with none is left out."""
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        if run_id is not None:
            query = query.where(outbox.c.run_id == run_id)
        return {status: int(n) for status, n in self._conn.execute(query)}

    def outbox_entries(self, statuses: Collection[str], limit: int) -> list[OutboxEntry]:
        """The newest `limit` messages with one of `statuses`, newest first (no address, subject or body)."""
        o = outbox.c
        query = (select(o.id, o.kind, o.team_key, o.as_of, o.status, o.attempts, o.created_at, o.sent_at,
                        o.last_error, o.requeued_at, o.requeued_by)
                 .where(o.status.in_(list(statuses))).order_by(o.id.desc()).limit(limit))
        return [OutboxEntry(r.id, r.kind, r.team_key, r.as_of, r.status, r.attempts, _utc(r.created_at),
                            _utc(r.sent_at), r.last_error, _utc(r.requeued_at), r.requeued_by)
                for r in self._conn.execute(query)]

    def outbox_statuses(self, outbox_ids: Collection[int]) -> dict[int, str]:
        """The status of each of these messages that exists."""
        found: dict[int, str] = {}
        for chunk in batched(outbox_ids, IN_LIST):
            query = select(outbox.c.id, outbox.c.status).where(outbox.c.id.in_(chunk))
            found.update((int(i), str(status)) for i, status in self._conn.execute(query))
        return found

    def requeue_failed(self, outbox_ids: Collection[int] | None, by: str) -> list[int]:
        """Put failed messages (these, or every failed one when None) back to pending with no attempt counted,
        noting who and when: `requeued_by`, `requeued_at`, and `last_error` "requeued by ... at ...; before: ...".
        A message that is not failed is left as it is. Returns the ids requeued, in id order."""
        o = outbox.c
        query = select(o.id, o.attempts, o.last_error).where(o.status == "failed").order_by(o.id)
        if outbox_ids is not None:
            query = query.where(o.id.in_(list(outbox_ids)))
        now = utcnow()
        requeued = []
        for outbox_id, attempts, last_error in self._conn.execute(query).all():
            note = (f"requeued by {by} at {now:%Y-%m-%d %H:%M:%S} UTC after {attempts} attempt(s); "
                    f"before: {last_error or 'no error recorded'}")
            self._conn.execute(update(outbox).where(o.id == outbox_id, o.status == "failed").values(
                status="pending", attempts=0, last_error=note[:ERROR_CHARS], requeued_at=now, requeued_by=by))
            requeued.append(int(outbox_id))
        return requeued

    # Reports and the worklist

    def closed_events(self, first: date, last: date) -> list[ClosedEvent]:
        """The `closed` events recorded from `first` to `last` (their as-of dates)."""
        query = select(events.c.care_team, events.c.patient_id, events.c.payload).where(
            events.c.kind == "closed", events.c.as_of >= first, events.c.as_of <= last).order_by(events.c.id)
        found = []
        for team, patient_id, payload in self._conn.execute(query):
            data = json.loads(payload)
            close = data.get("window_close")
            found.append(ClosedEvent(team, patient_id, date.fromisoformat(close) if close else None,
                                     date.fromisoformat(data["closed_by_scan"])))
        return found

    def patient_events(self, patient_id: str) -> list[EventEntry]:
        """Every event recorded for the patient, oldest first, with its digest's id, status and send time."""
        e = events.c
        query = (select(e.id, e.kind, e.event_key, e.window_open, e.as_of, e.run_id, e.created_at, e.payload,
                        e.outbox_id, outbox.c.status, outbox.c.sent_at)
                 .select_from(events.outerjoin(outbox, outbox.c.id == e.outbox_id))
                 .where(e.patient_id == patient_id)
                 .order_by(e.as_of, e.id))
        return [EventEntry(row.id, row.kind, row.event_key, row.window_open, row.as_of, row.run_id,
                           _utc(row.created_at), json.loads(row.payload), row.outbox_id, row.status,
                           _utc(row.sent_at))
                for row in self._conn.execute(query)]

    def recent_runs(self, limit: int = 10) -> list[RunEntry]:
        """The latest daily runs, newest first (by start time), with their summary counts."""
        query = (select(runs.c.run_id, runs.c.as_of, runs.c.started_at, runs.c.finished_at, runs.c.summary)
                 .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit))
        return [RunEntry(row.run_id, row.as_of, _utc(row.started_at), _utc(row.finished_at),
                         json.loads(row.summary) if row.summary else {})
                for row in self._conn.execute(query)]


class Ledger:
    """The ledger behind one engine: each method is one transaction of its own (see LedgerWriter for what
    they do); several writes that belong together go through `Database.transaction()` instead."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _writer(self) -> Iterator[LedgerWriter]:
        with scrubbed_errors(), self.engine.begin() as conn:
            yield LedgerWriter(conn)

    def begin_run(self, run_id: str, as_of: date, *, record: bool = True) -> date | None:
        """Note the run (unless `record` is false); return the latest as-of date of any other run."""
        with self._writer() as w:
            if record:
                w.start_run(run_id, as_of)
            return w.latest_other_run_as_of(run_id)

    def finish_run(self, run_id: str, summary: Mapping[str, Any]) -> None:
        with self._writer() as w:
            w.finish_run(run_id, summary)

    def record_events(self, new: Sequence[NewEvent], as_of: date, run_id: str) -> list[NewEvent]:
        with self._writer() as w:
            return w.record_events(new, as_of, run_id)

    def pending_messages(self, teams: Iterable[str] | None = None) -> list[OutboxMessage]:
        with self._writer() as w:
            return w.pending_messages(teams)

    def mark_sent(self, outbox_id: int) -> None:
        with self._writer() as w:
            w.mark_sent(outbox_id)

    def mark_attempt_failed(self, outbox_id: int, error: str, max_attempts: int) -> str:
        with self._writer() as w:
            return w.mark_attempt_failed(outbox_id, error, max_attempts)

    def note_error(self, outbox_ids: Sequence[int], error: str) -> None:
        with self._writer() as w:
            w.note_error(outbox_ids, error)

    def outbox_counts(self, run_id: str | None = None) -> dict[str, int]:
        with self._writer() as w:
            return w.outbox_counts(run_id)

    def outbox_entries(self, statuses: Collection[str], limit: int) -> list[OutboxEntry]:
        with self._writer() as w:
            return w.outbox_entries(statuses, limit)

    def sent_message_ids(self, message_ids: Collection[str]) -> set[str]:
        with self._writer() as w:
            return w.sent_message_ids(message_ids)

    def closed_events(self, first: date, last: date) -> list[ClosedEvent]:
        with self._writer() as w:
            return w.closed_events(first, last)

    def patient_events(self, patient_id: str) -> list[EventEntry]:
        with self._writer() as w:
            return w.patient_events(patient_id)

    def recent_runs(self, limit: int = 10) -> list[RunEntry]:
        with self._writer() as w:
            return w.recent_runs(limit)

    def iter_event_history(self, shard: int = 0, shards: int = 1) -> Generator[tuple[str, list[PastEvent]]]:
        """Every patient's recorded events, grouped by patient, in code-point patient_id order (streamed
        on a connection of its own, closed when the stream ends or is closed)."""
        query = select(events.c.patient_id, events.c.kind, events.c.event_key, events.c.payload)
        if shards > 1:
            query = query.join(patients, patients.c.patient_id == events.c.patient_id).where(
                patients.c.bucket % shards == shard)
        with scrubbed_errors(), self.engine.connect() as conn:
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

