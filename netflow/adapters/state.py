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

from sqlalchemy import Connection, Engine, and_, case, false, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from netflow.adapters.bulk import insert_many
from netflow.adapters.db import as_utc, by_code_point, dialect_insert, scrubbed_errors
from netflow.adapters.patients import PATIENT_FIELDS, bucket_of
from netflow.adapters.tables import follow_ups, imaging_studies, patient_state, patients, state_checks, utcnow
from netflow.batching import IN_LIST, batched
from netflow.domain.changes import Standing
from netflow.domain.record import PatientRecord, Scan, scan_of

__all__ = ["FOLLOW_UP_REACH_DAYS", "MARGIN", "PAGE_SORTS", "PageFilter", "PatientStateStore", "TeamChanges",
           "TeamPage", "WorklistRow"]

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
    risk_reasons: tuple[str, ...] = ()
    care_team: str | None = None


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

    # The worklist pages: a team's kept standings filtered, counted and sorted in SQL, with what changed since
    # they were kept (services/worklist_standings.py evaluates those patients on the fly and merges them in).

    def last_check(self) -> datetime | None:
        """From when on stamped data may be missing from the kept standings: the start of the earliest shard
        of the shard count checked whole most lately (every one of its shards checked), less MARGIN; None
        when no shard count was ever checked whole (before the first daily run)."""
        with self._conn() as conn:
            return _last_check(conn)

    def changed_since(self, team: str, since: datetime) -> set[str]:
        """The team's patients whose data was stamped at or after `since` (patients.updated_at, an imaging
        study's created_at, a follow-up's recorded_at): their kept standings may be out of date."""
        with self._conn() as conn:
            return _changed_since(conn, team, since)

    def team_size(self, team: str) -> int:
        """How many stored patients the team has."""
        with self._conn() as conn:
            return _team_size(conn, team)

    def team_changes(self, team: str, as_of: date) -> TeamChanges | None:
        """What a worklist page of the team on `as_of` must know before it reads the standings, in one
        transaction: the patients changed since the last whole check (changed_since), the standings that
        count them in the team, the team totals (team_counts) and size; None before any whole check."""
        s = patient_state.c
        with self._conn() as conn:
            since = _last_check(conn)
            if since is None:
                return None
            changed = _changed_since(conn, team, since)
            kept: list[WorklistRow] = []
            for chunk in batched(sorted(changed), IN_LIST):
                query = select(*_columns()).where(s.care_team == team, s.patient_id.in_(chunk))
                kept += [_row(r, as_of) for r in conn.execute(query)]
            groups = [(row[0], int(row[1]), row[2], int(row[3])) for row in conn.execute(
                select(s.status, s.escalation_level, s.risk_tier, func.count()).where(s.care_team == team)
                .group_by(s.status, s.escalation_level, s.risk_tier))]
            return TeamChanges(changed, kept, groups, _team_size(conn, team))

    def team_stale(self, team: str, as_of: date, context: str) -> list[WorklistRow]:
        """The team's kept standings that do not hold on `as_of`: kept on a later date, under other rules
        (`context`), or whose next_change has come."""
        s = patient_state.c
        stale = or_(s.next_change <= as_of, s.as_of > as_of, s.context != context)
        return self._rows(select(*_columns()).where(s.care_team == team, stale), as_of)

    def team_standings(self, team: str, patient_ids: Collection[str], as_of: date) -> list[WorklistRow]:
        """The kept standings of these patients that count them in `team`."""
        s = patient_state.c
        rows: list[WorklistRow] = []
        for chunk in batched(sorted(patient_ids), IN_LIST):
            rows += self._rows(select(*_columns()).where(s.care_team == team, s.patient_id.in_(chunk)), as_of)
        return rows

    def moved_out(self, team: str, as_of: date) -> list[WorklistRow]:
        """Kept standings that count a patient in `team` who is no longer stored or no longer in the team."""
        s, p = patient_state.c, patients.c
        query = (select(*_columns()).select_from(patient_state.outerjoin(patients, p.patient_id == s.patient_id))
                 .where(s.care_team == team, or_(p.patient_id.is_(None), p.care_team != team)))
        return self._rows(query, as_of)

    def follow_up_patients(self, team: str) -> set[str]:
        """The team's patients with any follow-up action recorded (in force or not)."""
        p, f = patients.c, follow_ups.c
        query = select(f.patient_id).distinct().where(f.patient_id.in_(select(p.patient_id).where(p.care_team == team)))
        with self._conn() as conn:
            return set(conn.execute(query).scalars())

    def team_page(self, team: str, as_of: date, context: str, where: PageFilter, *, sort: str, descending: bool,
                  limit: int, most_stale: int, statuses: Sequence[str], tiers: Sequence[str]) -> TeamPage:
        """In one pass over the team's kept standings (as a rule): those that do not hold on `as_of` (as
        team_stale; more than `most_stale` of them: some), and the first `limit` of the others that pass
        `where`, in the worklist's order `sort` (PAGE_SORTS: services.worklist_query.SORT_KEYS says it in Python,
        ties by code-point patient_id); `statuses` and `tiers` rank the worklist statuses and risk tiers.

        One ORDER BY of patient_ids puts the stale first, then the others in order (an index holding the
        columns it reads answers it alone); its LIMIT guesses how many are stale and grows when the guess
        was short. Then the rows of those patient_ids."""
        s = patient_state.c
        stale = or_(s.next_change <= as_of, s.as_of > as_of, s.context != context)
        flag = case((stale, 1), else_=0)
        guess = STALE_GUESS
        while True:
            with self._conn() as conn:
                order = _order(conn, sort, descending, statuses, tiers)
                query = (select(s.patient_id, flag).where(s.care_team == team, or_(stale, _passing(team, as_of, where)))
                         .order_by(flag.desc(), *order).limit(limit + guess))
                ids: Sequence[Any] = conn.execute(query).all()
                rows: dict[str, WorklistRow] = {}
                for chunk in batched([pid for pid, _ in ids], IN_LIST):
                    rows.update((r[0], _row(r, as_of)) for r in conn.execute(select(*_columns()).where(
                        s.patient_id.in_(chunk))))
            found = TeamPage([rows[pid] for pid, late in ids if late], [rows[pid] for pid, late in ids if not late])
            if len(ids) < limit + guess or len(found.rows) >= limit or len(found.stale) > most_stale:
                return found
            guess = max(2 * guess, len(found.stale) + 1) if len(found.stale) == len(ids) else len(found.stale)

    def team_rows(self, team: str, as_of: date, where: PageFilter) -> list[WorklistRow]:
        """Every kept standing of the team that passes `where`, in code-point patient_id order."""
        with self._conn() as conn:
            query = (select(*_columns()).where(_passing(team, as_of, where))
                     .order_by(by_code_point(conn, patient_state.c.patient_id)))
            rows: Sequence[Any] = conn.execute(query).all()
        return [_row(r, as_of) for r in rows]

    def team_total(self, team: str, as_of: date, where: PageFilter) -> int:
        """How many of the team's kept standings pass `where`."""
        query = select(func.count()).select_from(patient_state).where(_passing(team, as_of, where))
        with self._conn() as conn:
            return int(conn.execute(query).scalar_one())

    def _rows(self, query: Any, as_of: date) -> list[WorklistRow]:
        with self._conn() as conn:
            return [_row(r, as_of) for r in conn.execute(query)]


# The sorts team_page knows (services.worklist_query.SORT_KEYS has "name" too: names are sorted in Python).
PAGE_SORTS = ("urgency", "mrn", "status", "window", "days_overdue", "risk", "modality", "last_scan")
IMAGING_WALK = 500
STALE_GUESS = 500  # team_page's first guess of how many standings are stale (a day's: 0.3 % of 50,000 is 150)


@dataclass(frozen=True, slots=True)
class TeamPage:
    """What PatientStateStore.team_page found: the stale standings, the first rows of the others that pass
    the filter, in order."""

    stale: list[WorklistRow]
    rows: list[WorklistRow]


@dataclass(frozen=True, slots=True)
class PageFilter:
    """Which kept standings a worklist page lists, as services.worklist_query.WorklistQuery.passes decides for an
    evaluation: `status` a worklist status ("escalated": overdue at escalation level 2), `overdue_min_days`
    overdue at least that many days on the page's date; `only` / `without`: patient_ids (the follow-up filter)."""

    status: str | None = None
    risk: str | None = None
    overdue_min_days: int | None = None
    only: frozenset[str] | None = None
    without: frozenset[str] = frozenset()


def _columns() -> list[Any]:
    s = patient_state.c
    return [s.patient_id, s.status, s.escalation_level, s.overdue_from, s.window_open, s.window_close, s.risk_tier,
            s.rule_id, s.recommended_modality, s.last_scan, s.risk_reasons, s.care_team]


def _row(r: Any, as_of: date) -> WorklistRow:
    overdue_days = max(0, (as_of - r[3]).days) if r[1] == "overdue" and r[3] is not None else 0
    return WorklistRow(r[0], r[1], int(r[2]), overdue_days, r[4], r[5], r[6], r[7], r[8], r[9],
                       tuple(reason for reason in (r[10] or "").split(",") if reason), r[11])


@dataclass(frozen=True, slots=True)
class TeamChanges:
    """What PatientStateStore.team_changes found: the team's patients changed since the last whole check,
    their standings in the team, the team's totals (status, escalation_level, risk_tier, patients) and size."""

    changed: set[str]
    kept: list[WorklistRow]
    groups: list[tuple[str, int, str | None, int]]
    size: int


def _last_check(conn: Connection) -> datetime | None:
    c = state_checks.c
    by_count: dict[int, dict[int, datetime]] = {}
    for shards, shard, started in conn.execute(select(c.shards, c.shard, c.started_at)):
        stamp = as_utc(started)
        if stamp is not None:
            by_count.setdefault(int(shards), {})[int(shard)] = stamp
    complete = [starts for shards, starts in by_count.items() if set(starts) == set(range(shards))]
    if not complete:
        return None
    return min(max(complete, key=lambda starts: max(starts.values())).values()) - MARGIN


def _changed_since(conn: Connection, team: str, since: datetime) -> set[str]:
    p, f = patients.c, follow_ups.c
    found = set(conn.execute(select(p.patient_id).where(p.care_team == team, p.updated_at >= since)).scalars())
    others = set(conn.execute(select(f.patient_id).where(f.recorded_at >= since)).scalars())
    others.update(_imaging_since(conn, since))
    for chunk in batched(sorted(others - found), IN_LIST):
        found.update(conn.execute(select(p.patient_id).where(p.care_team == team, p.patient_id.in_(chunk))).scalars())
    return found


def _team_size(conn: Connection, team: str) -> int:
    return int(conn.execute(select(func.count()).select_from(patients).where(patients.c.care_team == team))
               .scalar_one())


def _imaging_since(conn: Connection, since: datetime) -> set[str]:
    """Patients with an imaging study stamped at or after `since`, walking back from the newest row by id.
    Ids grow in the order rows are inserted, and a writer inserts its rows within MARGIN of stamping them
    (the module docstring): a row stamped before `since - MARGIN` was inserted before `since`, and so was
    every row before it. Only the rows of the last day or so are read, not the whole table."""
    i = imaging_studies.c
    stop = since - MARGIN
    found: set[str] = set()
    before: int | None = None
    while True:
        query = select(i.id, i.patient_id, i.created_at).order_by(i.id.desc()).limit(IMAGING_WALK)
        if before is not None:
            query = query.where(i.id < before)
        rows = conn.execute(query).all()
        for row_id, pid, created in rows:
            stamp = as_utc(created)
            if stamp is not None and stamp < stop:
                return found
            if stamp is None or stamp >= since:
                found.add(pid)
            before = row_id
        if len(rows) < IMAGING_WALK:
            return found


def _passing(team: str, as_of: date, where: PageFilter) -> ColumnElement[bool]:
    s = patient_state.c
    overdue = s.status == "overdue"
    conditions: list[ColumnElement[bool]] = [s.care_team == team]
    if where.overdue_min_days is not None:
        conditions += [overdue, s.overdue_from <= as_of - timedelta(days=where.overdue_min_days)]
        if where.status == "escalated":
            conditions.append(s.escalation_level >= 2)
        elif where.status not in (None, "overdue"):
            conditions.append(false())
    elif where.status == "escalated":
        conditions += [overdue, s.escalation_level >= 2]
    elif where.status == "overdue":
        conditions += [overdue, s.escalation_level < 2]
    elif where.status is not None:
        conditions.append(s.status == where.status)
    if where.risk is not None:
        conditions.append(s.risk_tier == where.risk)
    if where.only is not None:
        conditions.append(s.patient_id.in_(sorted(where.only)))
    if where.without:
        conditions.append(s.patient_id.not_in(sorted(where.without)))
    return and_(*conditions)


def _order(conn: Connection, sort: str, descending: bool, statuses: Sequence[str], tiers: Sequence[str]
           ) -> list[Any]:
    """ORDER BY terms equal to the Python sort of services.worklist_query.SORT_KEYS[sort] (reverse when
    `descending`) over evaluations in code-point patient_id order: a stable sort, so ties keep that order."""
    s = patient_state.c
    overdue = s.status == "overdue"
    rank_of = {name: n for n, name in enumerate(statuses)}
    whens = [(and_(overdue, s.escalation_level >= 2), rank_of.get("escalated", len(statuses)))]
    whens += [(s.status == name, n) for name, n in rank_of.items() if name != "escalated"]
    rank = case(*whens, else_=len(statuses))
    since_overdue = case((overdue, s.overdue_from))  # days overdue, backwards; NULL when not overdue
    pid = by_code_point(conn, s.patient_id)

    def nulls_last(column: Any) -> list[tuple[Any, bool]]:
        return [(case((column.is_(None), 1), else_=0), True), (column, True)]

    keyed = False  # whether the patient_id is part of the key (reversed with it) or only breaks ties
    keys: list[tuple[Any, bool]]  # (term, ascending)
    if sort == "mrn":
        keys, keyed = [], True
    elif sort == "status":
        keys = [(rank, True), (since_overdue, True)]
    elif sort == "window":
        keys = nulls_last(s.window_open)
    elif sort == "days_overdue":
        keys = [(case((overdue, 1), else_=0), True), (since_overdue, False)]
    elif sort == "risk":
        tier = case({name: n for n, name in enumerate(tiers)}, value=s.risk_tier, else_=len(tiers))
        reasons = case((s.risk_reasons == "", 0), else_=func.length(s.risk_reasons)
                       - func.length(func.replace(s.risk_reasons, ",", "")) + 1)
        keys = [(tier, True), (reasons, False)]
    elif sort == "modality":
        keys = [(by_code_point(conn, func.coalesce(s.recommended_modality, "")), True)]
    elif sort == "last_scan":
        keys = nulls_last(s.last_scan)
    else:  # urgency
        keys = [(rank, True), (s.escalation_level, False), (since_overdue, True), *nulls_last(s.window_close),
                *nulls_last(s.window_open)]
        keyed = True
    terms = [term.asc() if ascending != descending else term.desc() for term, ascending in keys]
    return [*terms, pid.desc() if keyed and descending else pid.asc()]
