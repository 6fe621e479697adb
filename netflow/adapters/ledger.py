"""The reminder ledger: the `events` and `runs` tables (the `outbox` is adapters/outbox.py). One named
method per question; their SQL lives here and nowhere else.

    ledger = Ledger(engine)                          # reads, and single writes in their own transaction
    ledger.start_run("daily-1", date(2026, 12, 1))
    for patient_id, past in ledger.iter_event_history(shard=0, shards=2): ...
    with database.transaction(lock="build") as tx:   # several writes in one transaction: tx.ledger, tx.outbox
        outbox_id = tx.outbox.create_outbox_message(...)
        tx.ledger.attach_events(outbox_id, event_ids)

Every write that must happen once is keyed by a unique constraint and inserted with
ON CONFLICT DO NOTHING, so a rerun, a retried task or a second scheduler changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, update

from netflow.adapters.bulk import insert_many
from netflow.adapters.db import as_utc, by_code_point, dialect_insert, scrubbed_errors
from netflow.adapters.tables import events, outbox, patients, runs, utcnow
from netflow.batching import batched
from netflow.domain.events import SEVERITY, NewEvent, PastEvent

__all__ = ["ClosedEvent", "EventEntry", "Ledger", "LedgerWriter", "RunEntry", "StoredEvent"]

ID_LIST = 5000  # event ids per UPDATE ... WHERE id IN (...)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event recorded and not yet put in a digest."""

    id: int
    patient_id: str
    care_team: str
    kind: str
    payload: dict[str, Any]


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

    def attach_events(self, outbox_id: int, event_ids: Sequence[int]) -> None:
        """Put these events in the digest `outbox_id` (an event already in a digest stays in it)."""
        for chunk in batched(event_ids, ID_LIST):
            self._conn.execute(update(events).where(and_(events.c.id.in_(chunk), events.c.outbox_id.is_(None)))
                               .values(outbox_id=outbox_id))

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
        """Every event recorded for the patient, oldest first, with its digest's id, status and send time.

        A read that joins the `outbox` table (owned by adapters/outbox.py) for the digest's status and send
        time; it writes nothing there."""
        e = events.c
        query = (select(e.id, e.kind, e.event_key, e.window_open, e.as_of, e.run_id, e.created_at, e.payload,
                        e.outbox_id, outbox.c.status, outbox.c.sent_at)
                 .select_from(events.outerjoin(outbox, outbox.c.id == e.outbox_id))
                 .where(e.patient_id == patient_id)
                 .order_by(e.as_of, e.id))
        return [EventEntry(row.id, row.kind, row.event_key, row.window_open, row.as_of, row.run_id,
                           as_utc(row.created_at), json.loads(row.payload), row.outbox_id, row.status,
                           as_utc(row.sent_at))
                for row in self._conn.execute(query)]

    def recent_runs(self, limit: int = 10) -> list[RunEntry]:
        """The latest daily runs, newest first (by start time), with their summary counts."""
        query = (select(runs.c.run_id, runs.c.as_of, runs.c.started_at, runs.c.finished_at, runs.c.summary)
                 .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit))
        return [RunEntry(row.run_id, row.as_of, as_utc(row.started_at), as_utc(row.finished_at),
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

