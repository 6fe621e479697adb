"""The reminder ledger: the `events` and `runs` tables (the `outbox` is adapters/outbox.py). One named
method per question; their SQL lives here and nowhere else.

    ledger = Ledger(engine)                          # reads, and single writes in their own transaction
    ledger.start_run("daily-1", date(2026, 12, 1))
    for patient_id, past in ledger.iter_event_history(shard=0, shards=2): ...
    with database.transaction(lock="build") as tx:   # several writes in one transaction: tx.ledger, tx.outbox
        batches = tx.ledger.digest_batches(["gi-onc-east"], max_rows=20)   # what each digest shows
        outbox_id = tx.outbox.create_outbox_message(...)
        tx.ledger.attach_digest_events({"gi-onc-east": outbox_id}, through=batches["gi-onc-east"].through)

Every write that must happen once is keyed by a unique constraint and inserted with
ON CONFLICT DO NOTHING, so a rerun, a retried task or a second scheduler changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Integer,
    Text,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    select,
    true,
    type_coerce,
    update,
)

from netflow.adapters.bulk import insert_many
from netflow.adapters.db import IdRange, as_utc, by_code_point, dialect_insert, scrubbed_errors, within
from netflow.adapters.tables import events, outbox, patients, runs, utcnow
from netflow.batching import IN_LIST, batched
from netflow.domain.digest_sections import LONG_OVERDUE_DAYS, DigestItem, Selection
from netflow.domain.events import SEVERITY, NewEvent, PastEvent

__all__ = ["ClosedEvent", "DigestBatch", "EventEntry", "Ledger", "LedgerWriter", "RunEntry"]


@dataclass(frozen=True)
class DigestBatch:
    """What one team's digest shows of its unassigned events (`selection`, items without names), and
    `through`: the last event id it covers (attach_digest_events puts every event up to it in the digest)."""

    selection: Selection
    through: int


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


def _event_rows(new: Sequence[NewEvent], as_of: date, run_id: str, now: datetime) -> list[tuple[Any, ...]]:
    """The events as EVENT_ROW tuples. A patient's events that carry the same payload (a window event and a
    high-risk flag of one evaluation) come together: each payload is encoded once."""
    rows = []
    last: Mapping[str, Any] | None = None
    text = ""
    for e in new:
        if e.payload is not last and e.payload != last:
            text = _encoded(e.payload)
        last = e.payload
        rows.append((e.patient_id, e.care_team, e.kind, e.key, e.window_open, as_of, run_id, text, now))
    return rows


def _encoded(payload: Mapping[str, Any]) -> str:
    """A payload as JSON text: orjson (a fifth of the stdlib's time, a first run encodes a million), the stdlib
    for what orjson refuses (an integer over 64 bits, a non-string key)."""
    try:
        return orjson.dumps(payload).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(payload, ensure_ascii=False)


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
        rows = _event_rows(new, as_of, run_id, utcnow())
        conn = self._conn
        if conn.dialect.name == "sqlite":
            # Almost always every event is new (the run read the patients' histories first): one executemany,
            # and only when SQLite counts fewer rows inserted than given, again with RETURNING (SQLite returns
            # rows only from multi-row VALUES pages, twice as slow) to tell which.
            changes = "SELECT total_changes()"
            before = int(conn.exec_driver_sql(changes).scalar_one())
            with conn.begin_nested() as attempt:
                insert_many(conn, events, EVENT_ROW, rows, "ON CONFLICT DO NOTHING")
                if int(conn.exec_driver_sql(changes).scalar_one()) - before == len(rows):
                    return list(new)
                attempt.rollback()
        inserted = set(insert_many(conn, events, EVENT_ROW, rows, "ON CONFLICT DO NOTHING",
                                   returning=("patient_id", "kind", "event_key")))
        return [e for e in new if (e.patient_id, e.kind, e.key) in inserted]

    def unassigned_counts(self, teams: Iterable[str] | None = None) -> dict[str, int]:
        """How many events of each team are in no digest yet (closed events never go in one)."""
        query = select(events.c.care_team, func.count()).where(
            events.c.outbox_id.is_(None), events.c.kind != "closed").group_by(events.c.care_team)
        if teams is not None:
            query = query.where(events.c.care_team.in_(list(teams)))
        return {team: int(n) for team, n in self._conn.execute(query)}

    def digest_batches(self, teams: Collection[str], max_rows: int) -> dict[str, DigestBatch]:
        """Each team's unassigned events as its digest shows them, selected in SQL in one query: per
        section the `max_rows` most urgent and the count (netflow.domain.digest_sections says how; its
        `select_items` is the reference this equals). Only the rows shown are read and decoded."""
        if not teams:
            return {}
        ranked = _ranked_events(self._conn, teams).subquery("ranked")
        r = ranked.c
        query = (select(r.id, r.care_team, r.patient_id, r.kind, r.section, events.c.payload, r.flagged, r.n)
                 .join_from(ranked, events, events.c.id == r.id)
                 .where(r.rn <= max_rows).order_by(r.care_team, r.section, r.rn))
        rows: dict[str, dict[str, list[DigestItem]]] = {}
        counts: dict[str, dict[str, int]] = {}
        flagged: dict[str, set[str]] = {}
        for i, team, patient_id, kind, section, payload, marked, n in self._conn.execute(query):
            rows.setdefault(team, {}).setdefault(section, []).append(
                DigestItem(kind, patient_id, None, json.loads(payload), order=i))
            counts.setdefault(team, {})[section] = int(n)
            if marked:
                flagged.setdefault(team, set()).add(patient_id)
        e = events.c
        totals = self._conn.execute(
            select(e.care_team, func.count(case((e.kind == "high_risk", 1))), func.max(e.id))
            .where(e.outbox_id.is_(None), e.kind != "closed", e.care_team.in_(list(teams))).group_by(e.care_team))
        return {team: DigestBatch(Selection({k: tuple(v) for k, v in rows.get(team, {}).items()}, counts.get(team, {}),
                                            frozenset(flagged.get(team, ())), int(flags)), int(through))
                for team, flags, through in totals}

    def attach_digest_events(self, digests: Mapping[str, int], through: int) -> int:
        """Put each team's unassigned events up to id `through` in its digest (`digests`: team -> outbox
        id), all teams in one UPDATE. Returns how many events were put in a digest."""
        if not digests:
            return 0
        e = events.c
        outbox_id = case(*((e.care_team == team, number) for team, number in digests.items()))
        result = self._conn.execute(update(events).where(
            e.care_team.in_(list(digests)), e.outbox_id.is_(None), e.kind != "closed", e.id <= through
        ).values(outbox_id=outbox_id))
        return int(result.rowcount or 0)

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


def _sort_fields(conn: Connection) -> tuple[list[Any], Any]:
    """The payload fields the digest order needs (level, days, closes, opens), and the FROM that gives them.
    PostgreSQL parses each payload once (json_to_record, beside the row: the sorts carry the fields, not the
    payload); four JSONB casts per row were most of the query. SQLite's json_extract is cheap."""
    e = events.c
    if conn.dialect.name == "postgresql":
        doc = func.json_to_record(cast(e.payload, JSON)).table_valued(
            column("escalation_level", Integer), column("days_overdue", Integer), column("window_close", Text),
            column("window_open", Text)).render_derived(name="doc", with_types=True).lateral()
        d = doc.c
        return ([func.coalesce(d.escalation_level, 0).label("level"), func.coalesce(d.days_overdue, 0).label("days"),
                 d.window_close.label("closes"), d.window_open.label("opens")], events.join(doc, true()))
    payload: Any = type_coerce(e.payload, JSON)
    return ([func.coalesce(payload["escalation_level"].as_integer(), 0).label("level"),
             func.coalesce(payload["days_overdue"].as_integer(), 0).label("days"),
             payload["window_close"].as_string().label("closes"), payload["window_open"].as_string().label("opens")],
            events)


def _ranked_events(conn: Connection, teams: Collection[str]) -> Any:
    """The teams' unassigned events, each with its digest section (NULL: not shown, a plan change or a
    high-risk mark says it), its rank by urgency in its team's section (rn), the section's size (n),
    and whether the patient's new high-risk flag marks their row (flagged). The payload fields the
    order needs are read in SQL; the payload itself is not carried through the sorts."""
    e = events.c
    fields, source = _sort_fields(conn)
    patient = (e.care_team, e.patient_id)
    pending = select(
        e.id, e.care_team, e.patient_id, e.kind, *fields,
        *(func.max(case((condition, 1), else_=0)).over(partition_by=patient).label(name)
          for name, condition in (("plan", e.kind == "plan_changed"), ("other", e.kind != "high_risk"),
                                  ("flag", e.kind == "high_risk"))),
    ).select_from(source).where(e.outbox_id.is_(None), e.kind != "closed", e.care_team.in_(list(teams))
                                ).subquery("pending")
    p = pending.c
    section = case(
        (and_(p.plan == 1, p.kind != "plan_changed"), literal(None)),
        (and_(p.kind == "high_risk", p.other == 1), literal(None)),
        (and_(p.kind.in_(("escalated", "overdue")), p.days >= LONG_OVERDUE_DAYS), literal("overdue_year")),
        else_=p.kind)
    placed = select(p.id, p.care_team, p.patient_id, p.kind, p.level, p.days, p.closes, p.opens,
                    section.label("section"), (p.flag * p.other).label("flagged")).subquery("placed")
    c = placed.c
    urgency = (c.level.desc(), c.days.desc(), c.closes.is_(None), c.closes, c.opens.is_(None), c.opens,
               by_code_point(conn, c.patient_id), c.id)
    return select(c.id, c.care_team, c.patient_id, c.kind, c.section, c.flagged,
                  func.row_number().over(partition_by=(c.care_team, c.section), order_by=urgency).label("rn"),
                  func.count().over(partition_by=(c.care_team, c.section)).label("n")
                  ).where(c.section.is_not(None))


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

    def iter_event_history(self, shard: int = 0, shards: int = 1, id_range: IdRange = (None, None)
                           ) -> Generator[tuple[str, list[PastEvent]]]:
        """Every patient's (of the shard, in `id_range`) recorded events, grouped by patient, in code-point
        patient_id order (streamed on a connection of its own, closed when the stream ends or is closed)."""
        query = select(events.c.patient_id, events.c.kind, events.c.event_key, events.c.payload)
        if shards > 1:
            query = query.join(patients, patients.c.patient_id == events.c.patient_id).where(
                patients.c.bucket % shards == shard)
        with scrubbed_errors(), self.engine.connect() as conn:
            key = by_code_point(conn, events.c.patient_id)
            query = query.where(*within(key, id_range)).order_by(key)
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

    def event_history_of(self, patient_ids: Iterable[str]) -> dict[str, list[PastEvent]]:
        """The recorded events of these patients (an incremental run's few), by patient_id."""
        found: dict[str, list[PastEvent]] = {}
        e = events.c
        with scrubbed_errors(), self.engine.connect() as conn:
            for chunk in batched(sorted(set(patient_ids)), IN_LIST):
                query = select(e.patient_id, e.kind, e.event_key, e.payload).where(e.patient_id.in_(chunk))
                for patient_id, kind, key, payload in conn.execute(query.order_by(e.id)):
                    found.setdefault(patient_id, []).append(_past(kind, key, payload))
        return found
