"""Where each patient stands (`patient_state`), and which patients a daily run must evaluate again.

    state = PatientStateStore(engine)                      # db.state
    started = state.check_started()                        # before reading anything
    stale = state.stale(date(2026, 12, 2), context)        # patient_ids, or None: evaluate everyone
    records = state.records(stale)                         # only those, with their imaging
    state.save(standings, context)                         # after their events were recorded
    state.finish_check(0, 1, started, date(2026, 12, 2))   # the shard was checked whole
    state.team_counts()                                    # (team, status, level, tier, patients)
    state.worklist_page("gi-east", date(2026, 12, 2), status="overdue", page=1, page_size=50)

A patient is stale when its data was stamped since the shard was last checked whole, less a margin
(`patients.updated_at`, `imaging_studies.created_at`: imports and "done elsewhere" add scans,
`follow_ups.recorded_at`), or it has a scan booking or deferral in force or ended lately (they act by
date, outside the engine), or its kept standing's `next_change` has come, or it was kept under other
rules (the fingerprint), or is older than the as-of date allows. The margin covers a transaction that
stamped its rows before a run began and committed after it read, and clocks a little apart. A shard
never checked whole (the first run, a new NETFLOW_SHARDS) is evaluated whole.
This module owns `patient_state` and `state_checks`; it reads patients, imaging_studies and follow_ups.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from netflow.adapters.bulk import insert_many
from netflow.adapters.db import as_utc, dialect_insert, scrubbed_errors
from netflow.adapters.patients import PATIENT_FIELDS, bucket_of
from netflow.adapters.tables import follow_ups, imaging_studies, patient_state, patients, state_checks, utcnow
from netflow.batching import IN_LIST, batched
from netflow.domain.changes import Standing
from netflow.domain.record import PatientRecord, Scan, scan_of

__all__ = ["FOLLOW_UP_REACH_DAYS", "MARGIN", "PatientStateStore", "WorklistRow"]

# Data stamped this long before the last whole check began is looked at again: the longest a writer's
# transaction may run between stamping its rows and committing them (an import of a million patients takes
# minutes), plus clocks a little apart (see the module docstring).
MARGIN = timedelta(hours=6)
# A scan booking or deferral acts until its date (+ the grace period) or its `until`: patients with one that
# ends after this many days before the as-of date are evaluated again each run. A kept row older than
# that is stale whatever it says.
FOLLOW_UP_REACH_DAYS = 400
DATED_ACTIONS = ("scan_booked", "deferred")
STATE_ROW = ("patient_id", "bucket", "care_team", "status", "guideline", "rule_id", "risk_tier", "risk_reasons",
             "review_reasons", "last_scan", "window_open", "window_close", "overdue_from", "escalation_level",
             "recommended_modality", "next_change", "context", "as_of", "updated_at")
# The order of urgency for a worklist page: the most pressing first, then by due date.
URGENCY = ("overdue", "due", "due_soon", "needs_review", "not_due", "not_indicated", "completed", "inactive",
           "invalid")


@dataclass(frozen=True, slots=True)
class WorklistRow:
    """One row of a team's worklist page, from the kept standings (days_overdue on the page's date)."""

    patient_id: str
    status: str
    escalation_level: int
    days_overdue: int
    window_open: date | None
    window_close: date | None
    risk_tier: str | None
    rule_id: str | None
    recommended_modality: str | None
    last_scan: date | None


def _check_shard(shard: int, shards: int) -> None:
    if shards < 1 or not 0 <= shard < shards:
        raise ValueError(f"shard must be between 0 and {shards - 1}, got {shard}")


def _in_shard(bucket: Any, shard: int, shards: int) -> ColumnElement[bool]:
    return and_(True, bucket % shards == shard) if shards > 1 else and_(True)


class PatientStateStore:
    """`patient_state` behind one engine: each method is one transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _conn(self, write: bool = False) -> Iterator[Connection]:
        with scrubbed_errors(), (self.engine.begin() if write else self.engine.connect()) as conn:
            yield conn

    def check_started(self) -> datetime:
        """The time a run starts reading (UTC): what `finish_check` keeps for the next run."""
        return utcnow()

    def stale(self, as_of: date, context: str, shard: int = 0, shards: int = 1, limit: int | None = None
              ) -> list[str] | None:
        """The patients of shard `shard` of `shards` to evaluate again on `as_of`, in code-point order; None
        when the shard was never checked whole or more than `limit` are stale (then evaluate everyone)."""
        _check_shard(shard, shards)
        with self._conn() as conn:
            started = conn.execute(select(state_checks.c.started_at).where(
                state_checks.c.shards == shards, state_checks.c.shard == shard)).scalar()
            if started is None:
                return None
            checked = as_utc(started)
            assert checked is not None
            since = checked - MARGIN
            reach = as_of - timedelta(days=FOLLOW_UP_REACH_DAYS)
            p, s, f, i = patients.c, patient_state.c, follow_ups.c, imaging_studies.c
            acted = select(f.patient_id).where(or_(f.recorded_at >= since, and_(
                f.action.in_(DATED_ACTIONS), func.coalesce(f.until, f.date) >= reach)))
            queries = [
                select(p.patient_id).where(p.updated_at >= since, _in_shard(p.bucket, shard, shards)),
                select(p.patient_id).where(p.patient_id.in_(select(i.patient_id).where(i.created_at >= since)),
                                           _in_shard(p.bucket, shard, shards)),
                select(p.patient_id).where(p.patient_id.in_(acted), _in_shard(p.bucket, shard, shards)),
                select(s.patient_id).where(or_(s.next_change <= as_of, s.as_of > as_of, s.as_of < reach,
                                               s.context != context), _in_shard(s.bucket, shard, shards)),
            ]
            found: set[str] = set()
            for query in queries:
                found.update(pid for (pid,) in conn.execute(query if limit is None else query.limit(limit + 1)))
                if limit is not None and len(found) > limit:
                    return None
        return sorted(found)

    def finish_check(self, shard: int, shards: int, started: datetime, as_of: date) -> None:
        """Note that every stale patient of the shard was evaluated by the run that started reading at
        `started` (from `check_started`); the next run looks at data stamped since then (less MARGIN)."""
        _check_shard(shard, shards)
        with self._conn(write=True) as conn:
            insert = dialect_insert(conn, state_checks)
            conn.execute(insert.on_conflict_do_update(index_elements=["shards", "shard"], set_={
                "started_at": insert.excluded.started_at, "as_of": insert.excluded.as_of}),
                {"shards": shards, "shard": shard, "started_at": started, "as_of": as_of})

    def shard_size(self, shard: int = 0, shards: int = 1) -> int:
        """How many patients the shard holds."""
        _check_shard(shard, shards)
        query = select(func.count()).select_from(patients)
        if shards > 1:
            query = query.where(patients.c.bucket % shards == shard)
        with self._conn() as conn:
            return int(conn.execute(query).scalar_one())

    def records(self, patient_ids: Collection[str]) -> Iterator[PatientRecord]:
        """These stored patients with their imaging (in the order it was stored), in code-point patient_id
        order. A few at a time: an incremental run's stale patients."""
        i = imaging_studies.c
        with self._conn() as conn:
            for chunk in batched(sorted(patient_ids), IN_LIST):
                people = conn.execute(select(*(patients.c[name] for name in PATIENT_FIELDS))
                                      .where(patients.c.patient_id.in_(chunk))).all()
                scans: dict[str, list[Scan]] = {}
                for pid, when, modality in conn.execute(select(i.patient_id, i.date, i.modality)
                                                        .where(i.patient_id.in_(chunk)).order_by(i.id)):
                    scans.setdefault(pid, []).append(scan_of(when, modality))
                for row in sorted(people, key=lambda r: str(r[0])):
                    fields = dict(zip(PATIENT_FIELDS, row, strict=True))
                    yield PatientRecord(**fields, imaging=tuple(scans.get(row[0], ())))

    def save(self, kept: Iterable[Standing], context: str, now: datetime | None = None) -> int:
        """Keep each patient's standing (computed under the rules fingerprint `context`); returns how many."""
        stamp = now or utcnow()
        rows = [(s.patient_id, bucket_of(s.patient_id), s.care_team, s.status, s.guideline, s.rule_id, s.risk_tier,
                 ",".join(s.risk_reasons), ",".join(s.review_reasons), s.last_scan, s.window_open, s.window_close,
                 s.overdue_from, s.escalation_level, s.recommended_modality, s.next_change, context, s.as_of, stamp)
                for s in kept]
        changing = ", ".join(f"{name} = excluded.{name}" for name in STATE_ROW[1:])
        with self._conn(write=True) as conn:
            insert_many(conn, patient_state, STATE_ROW, rows, f"ON CONFLICT (patient_id) DO UPDATE SET {changing}")
        return len(rows)

    def team_counts(self, shard: int = 0, shards: int = 1, teams: Collection[str] | None = None
                    ) -> list[tuple[str | None, str, int, str | None, int]]:
        """(care_team, status, escalation_level, risk_tier, patients) over the shard's kept standings."""
        _check_shard(shard, shards)
        s = patient_state.c
        query = (select(s.care_team, s.status, s.escalation_level, s.risk_tier, func.count())
                 .group_by(s.care_team, s.status, s.escalation_level, s.risk_tier))
        if shards > 1:
            query = query.where(s.bucket % shards == shard)
        if teams is not None:
            query = query.where(s.care_team.in_(sorted(teams)))
        with self._conn() as conn:
            return [(row[0], row[1], int(row[2]), row[3], int(row[4])) for row in conn.execute(query)]

    def drop_missing(self) -> int:
        """Forget the standings of patients no longer in the database; returns how many."""
        gone = ~select(literal(1)).where(patients.c.patient_id == patient_state.c.patient_id).exists()
        with self._conn(write=True) as conn:
            return int(conn.execute(patient_state.delete().where(gone)).rowcount or 0)

    # The worklist, read from the kept standings (issue 13: one place for "where each patient stands").

    def status_counts(self, team: str) -> dict[str, int]:
        """How many of the team's patients stand in each status (as of the last daily run)."""
        s = patient_state.c
        query = select(s.status, func.count()).where(s.care_team == team).group_by(s.status)
        with self._conn() as conn:
            return {status: int(n) for status, n in conn.execute(query)}

    def worklist_page(self, team: str, as_of: date, *, status: str | None = None, page: int = 1,
                      page_size: int = 50) -> list[WorklistRow]:
        """One page of the team's patients, the most urgent first: by status (URGENCY), escalation level
        (highest first), then the window (earliest first) and patient_id."""
        if page < 1 or page_size < 1:
            raise ValueError(f"page and page_size must be at least 1, got {page} and {page_size}")
        s = patient_state.c
        rank = case({name: n for n, name in enumerate(URGENCY)}, value=s.status, else_=len(URGENCY))
        where: ColumnElement[bool] = s.care_team == team
        if status is not None:
            where = and_(where, s.status == status)
        query = (select(s.patient_id, s.status, s.escalation_level, s.overdue_from, s.window_open, s.window_close,
                        s.risk_tier, s.rule_id, s.recommended_modality, s.last_scan)
                 .where(where)
                 .order_by(rank, s.escalation_level.desc(), s.window_open, s.patient_id)
                 .limit(page_size).offset((page - 1) * page_size))
        with self._conn() as conn:
            rows: Sequence[Any] = conn.execute(query).all()
        return [WorklistRow(r[0], r[1], int(r[2]),
                            max(0, (as_of - r[3]).days) if r[1] == "overdue" and r[3] is not None else 0,
                            r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]
