"""Incremental daily runs equal full ones: the same events, the same team totals, the same standings.

Two databases get the same random patients, the same random data changes (record edits, new scans,
follow-up actions) and the same random sequence of dates (forward, repeated, replayed): one is run as
the daily run does (only what can have changed), the other with `full=True` every time. The data is
stamped by a clock that moves on between runs (`Clock`), as the daily runs of a real installation see it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from netflow.adapters.database import Database
from netflow.adapters.db import upgrade
from netflow.adapters.patients import patient_values, record_hash
from netflow.adapters.tables import events, patient_state, utcnow
from netflow.domain.record import MODALITIES, Scan, parse_record
from netflow.guidelines import load_rulebook
from netflow.reminders.recording import RecordResult, record_run
from tests.support.records import record, scan
from tests.unit.test_next_change import records

BOOK = load_rulebook()
START = date(2026, 11, 2)
EVENT_COLUMNS = (events.c.patient_id, events.c.care_team, events.c.kind, events.c.event_key, events.c.window_open,
                 events.c.as_of, events.c.payload)
STATE_COMPARED = [c for c in patient_state.c if c.name not in ("as_of", "next_change", "updated_at")]


class Clock:
    """The wall clock of the data and the runs: data changes are stamped two days before the run after them
    (longer ago than adapters.state.MARGIN, so that a run after the next does not see them as new again)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 2, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def next_day(self, days: int = 1) -> None:
        self.now += timedelta(days=days)

    def data(self) -> datetime:
        return self.now - timedelta(days=2)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An upgraded, empty SQLite database file, copied for each example."""
    path = tmp_path_factory.mktemp("incremental") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def store(db: Database, raws: list[dict[str, Any]], now: datetime | None = None) -> None:
    """Insert or overwrite these records and add their imaging, as an import does (stamped `now`)."""
    parsed = []
    for raw in raws:
        record, errors = parse_record(raw, BOOK.ids)
        assert record is not None, errors
        parsed.append(record)
    now = now or utcnow()
    with db.patients.transaction() as tx:
        tx.upsert_patients([(patient_values(r), record_hash(r)) for r in parsed], now)
        tx.add_imaging([(r.patient_id, s) for r in parsed for s in r.imaging], now)


def follow_up(db: Database, patient_id: str, action: str, day: date, now: datetime | None = None) -> None:
    with db.transaction() as tx:
        tx.follow_ups.add_follow_up(patient_id=patient_id, care_team="gi-onc-east", action=action,
                                    recorded_by="nurse", date=day if action == "scan_booked" else None,
                                    until=day if action == "deferred" else None, recorded_at=now)


def new_scan(db: Database, patient_id: str, day: date, modality: str, now: datetime | None = None) -> None:
    with db.patients.transaction() as tx:
        tx.add_imaging([(patient_id, Scan(day, modality))], now or utcnow())


def recorded(db: Database) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(*EVENT_COLUMNS)))


def standings(db: Database) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(*STATE_COMPARED)))


def counts(result: RecordResult) -> dict[str, Any]:
    out = result.as_counts()
    out.pop("unchanged")
    out.pop("full")
    return out


@st.composite
def changes(draw: st.DrawFn, size: int) -> list[tuple[Any, ...]]:
    """Data changes between two runs: (kind, patient index, ...)."""
    kinds = st.sampled_from(["edit", "scan", "scan", "scan_booked", "deferred", "contacted"])
    found: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(0, 3))):
        kind, index = draw(kinds), draw(st.integers(0, size - 1))
        if kind == "edit":
            found.append((kind, index, draw(records(f"P{index:02d}", START))))
        else:
            found.append((kind, index, draw(st.integers(-200, 90)), draw(st.sampled_from(MODALITIES))))
    return found


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[int, list[tuple[Any, ...]]]]]:
    size = draw(st.integers(2, 10))
    people = [draw(records(f"P{i:02d}", START)) for i in range(size)]
    moves = st.one_of(st.integers(1, 45), st.integers(1, 200), st.just(0), st.integers(-60, -1))
    steps = [(draw(moves), draw(changes(size))) for _ in range(draw(st.integers(2, 8)))]
    return people, steps


def apply(db: Database, change: tuple[Any, ...], as_of: date, now: datetime) -> None:
    kind, index, *rest = change
    pid = f"P{index:02d}"
    if kind == "edit":
        store(db, [rest[0]], now)
    elif kind == "scan":
        new_scan(db, pid, as_of + timedelta(days=rest[0]), rest[1], now)
    else:
        follow_up(db, pid, kind, as_of + timedelta(days=rest[0]), now)


@pytest.fixture
def pair(template: Path) -> Iterator[tuple[Database, Database]]:
    folder = Path(tempfile.mkdtemp(prefix="netflow-incremental-"))
    try:
        yield _pair(template, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _pair(template: Path, folder: Path) -> tuple[Database, Database]:
    dbs = []
    for name in ("incremental", "full"):
        shutil.copy(template, folder / f"{name}.db")
        dbs.append(Database.open(f"sqlite:///{folder / name}.db"))
    return dbs[0], dbs[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario=scenarios())
def test_incremental_runs_record_the_same_events_and_totals_as_full_runs(
        template: Path, scenario: tuple[list[dict[str, Any]], list[tuple[int, list[tuple[Any, ...]]]]]) -> None:
    people, steps = scenario
    folder = Path(tempfile.mkdtemp(prefix="netflow-incremental-"))
    clock = Clock()
    try:
        incremental, full = _pair(template, folder)
        for db in (incremental, full):
            store(db, people, clock.data())
        as_of = START
        for number, (move, data_changes) in enumerate(steps):
            as_of += timedelta(days=move)
            clock.next_day(3)
            for change in data_changes:
                for db in (incremental, full):
                    apply(db, change, as_of, clock.data())
            with mock.patch("netflow.adapters.state.utcnow", clock):
                fast = record_run(incremental, BOOK, as_of, f"run-{number}")
                slow = record_run(full, BOOK, as_of, f"run-{number}", full=True)
            assert counts(fast) == counts(slow), (number, as_of)
            assert recorded(incremental) == recorded(full), (number, as_of)
            assert standings(incremental) == standings(full), (number, as_of)
        for db in (incremental, full):
            db.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock()
    monkeypatch.setattr("netflow.adapters.state.utcnow", found)
    return found


def two_patients(db: Database, clock: Clock) -> None:
    store(db, [_patient("P01", "2025-11-20"), _patient("P02", "2026-10-01")], clock.data())


def test_the_first_run_evaluates_everyone_and_a_same_day_rerun_nobody(pair: tuple[Database, Database],
                                                                      clock: Clock) -> None:
    db, _ = pair
    two_patients(db, clock)
    first = record_run(db, BOOK, START, "first")
    clock.next_day()
    again = record_run(db, BOOK, START, "again")
    assert (first.full, again.full) == (True, False)
    assert again.unchanged == again.evaluated == 2
    assert (again.by_status, again.teams) == (first.by_status, first.teams)
    assert not again.events


def test_a_new_scan_alone_is_evaluated_again_the_next_day(pair: tuple[Database, Database], clock: Clock) -> None:
    db, _ = pair
    two_patients(db, clock)
    record_run(db, BOOK, START, "first")
    clock.next_day()
    new_scan(db, "P01", START, "MRI", clock.now)
    after = record_run(db, BOOK, START + timedelta(days=1), "second")
    assert (after.full, after.unchanged) == (False, 1)
    assert after.events["closed"] == 1


def test_data_stamped_before_a_run_and_committed_after_it_is_still_seen(pair: tuple[Database, Database],
                                                                         clock: Clock) -> None:
    db, _ = pair
    two_patients(db, clock)
    clock.next_day()
    record_run(db, BOOK, START, "first")
    new_scan(db, "P01", START, "MRI", clock.now - timedelta(minutes=5))  # a transaction begun before the run
    clock.next_day()
    after = record_run(db, BOOK, START + timedelta(days=1), "second")
    assert after.events["closed"] == 1


def test_a_patient_whose_next_change_comes_is_evaluated_again(pair: tuple[Database, Database], clock: Clock) -> None:
    db, _ = pair
    two_patients(db, clock)  # P01: due on 2026-11-02, overdue from 2026-12-21 (close 2026-11-20 + 30 days)
    record_run(db, BOOK, START, "first")
    clock.next_day(5)
    before = record_run(db, BOOK, date(2026, 12, 20), "before")
    on = record_run(db, BOOK, date(2026, 12, 21), "on")
    assert (before.unchanged, on.unchanged) == (2, 1)
    assert on.events == {"overdue": 1}


def test_a_rules_change_evaluates_everyone_again(pair: tuple[Database, Database], clock: Clock) -> None:
    db, _ = pair
    two_patients(db, clock)
    record_run(db, BOOK, START, "first")
    clock.next_day()
    other = BOOK.with_default("esmo2020")  # the rules that decide change: every kept standing is stale
    after = record_run(db, other, START, "second")
    assert (after.full, after.unchanged) == (False, 0)


def test_a_replay_evaluates_everyone_and_keeps_nothing(pair: tuple[Database, Database], clock: Clock) -> None:
    db, _ = pair
    store(db, [_patient("P01", "2025-11-20")], clock.data())
    record_run(db, BOOK, START, "first")
    before = standings(db)
    clock.next_day()
    replay = record_run(db, BOOK, START - timedelta(days=30), "replay")
    assert replay.replay and replay.full and replay.evaluated == 1
    assert standings(db) == before


def test_shards_recorded_incrementally_add_up_to_one_full_run(pair: tuple[Database, Database], clock: Clock
                                                              ) -> None:
    sharded, whole = pair
    people = [_patient(f"P{i:02d}", f"2026-{1 + i % 10:02d}-15") for i in range(12)]
    for db in pair:
        store(db, people, clock.data())
    totals = []
    for day in range(3):
        clock.next_day()
        as_of = START + timedelta(days=20 * day)
        parts = [record_run(sharded, BOOK, as_of, f"run-{day}", shard=k, shards=3) for k in range(3)]
        one = record_run(whole, BOOK, as_of, f"run-{day}", full=True)
        assert sum(p.evaluated for p in parts) == one.evaluated
        assert sum((p.by_status for p in parts), Counter()) == one.by_status
        totals.append(sum(p.unchanged for p in parts))
        assert recorded(sharded) == recorded(whole)
    assert totals[0] == 0 and totals[-1] > 0


def test_runs_over_everyone_in_forked_workers_record_what_one_process_does(pair: tuple[Database, Database],
                                                                           clock: Clock) -> None:
    forked, single = pair
    people = [_patient(f"P{i:02d}", f"202{4 + i % 3}-{1 + i % 10:02d}-15") for i in range(16)]
    for db in pair:
        store(db, people, clock.data())
    for day in range(3):  # a first run, then runs over everyone with a history to merge
        clock.next_day()
        as_of = START + timedelta(days=150 * day)
        many = record_run(forked, BOOK, as_of, f"run-{day}", full=True, workers=2)
        one = record_run(single, BOOK, as_of, f"run-{day}", full=True)
        assert counts(many) == counts(one) and many.evaluated == 16, day
        assert recorded(forked) == recorded(single), day
        assert standings(forked) == standings(single), day
    assert len(recorded(forked)) > 16


def test_a_failing_worker_fails_the_run_and_leaves_the_check_unfinished(pair: tuple[Database, Database],
                                                                        clock: Clock,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    db, _ = pair
    store(db, [_patient(f"P{i:02d}", "2026-01-15") for i in range(8)], clock.data())
    monkeypatch.setattr("netflow.reminders.recording.decide_events", _fail)

    with pytest.raises(ValueError, match="no events today"):
        record_run(db, BOOK, START, "run-1", workers=2)

    assert db.state.stale(START, "any") is None  # the next run evaluates everyone again


def _fail(*_: Any) -> list[Any]:
    raise ValueError("no events today")


def _patient(pid: str, last_ct: str) -> dict[str, Any]:
    return record(patient_id=pid, imaging=[scan(last_ct)])
