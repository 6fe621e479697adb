"""The worklist read from where each patient stands (patient_state): counts per status, pages by urgency, and
every page equal to the same page of the team evaluated as a whole on its date, whatever changed since the run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import text

from netflow import __version__
from netflow.adapters.database import Database
from netflow.adapters.db import upgrade, utcnow
from netflow.config import Settings
from netflow.demo.cohort import build_cohort
from netflow.domain.changes import rules_fingerprint
from netflow.guidelines import load_rulebook
from netflow.installation import Installation
from netflow.reminders.recording import record_run
from netflow.services.worklist import (
    FOLLOW_UP_FILTERS,
    SORT_KEYS,
    STATUSES,
    WorklistPage,
    WorklistQuery,
    _evaluated,
    _from_standings,
    worklist,
)
from tests.integration.test_incremental import follow_up, new_scan, store
from tests.support.records import record, scan

BOOK = load_rulebook()
D = date(2026, 12, 1)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'netflow.db'}"
    upgrade(url)
    found = Database.open(url)
    store(found, [
        record(patient_id="A-escalated", imaging=[scan("2025-01-10")]),   # overdue since 2026-02-09, level 2
        record(patient_id="B-overdue", imaging=[scan("2025-09-01")]),     # overdue since 2026-10-01, level 1
        record(patient_id="C-due", imaging=[scan("2025-11-20")]),
        record(patient_id="D-not-due", imaging=[scan("2026-10-01")]),
        record(patient_id="E-review", primary_site="other"),
        record(patient_id="F-other-team", care_team="hpb-west", imaging=[scan("2025-01-10")]),
    ])
    record_run(found, BOOK, D, "daily")
    return found


def test_status_counts_equal_the_run_s_totals_for_the_team(db: Database) -> None:
    assert db.state.status_counts("gi-onc-east") == {"overdue": 2, "due": 1, "not_due": 1, "needs_review": 1}
    assert db.state.status_counts("hpb-west") == {"overdue": 1}


def test_a_page_lists_the_most_urgent_first_with_days_overdue_on_its_date(db: Database) -> None:
    rows = db.state.worklist_page("gi-onc-east", D, page=1, page_size=10)
    assert [r.patient_id for r in rows] == ["A-escalated", "B-overdue", "C-due", "E-review", "D-not-due"]
    assert (rows[0].escalation_level, rows[0].days_overdue) == (2, (D - date(2026, 2, 9)).days)
    later = db.state.worklist_page("gi-onc-east", date(2026, 12, 11), status="overdue", page=1, page_size=10)
    assert [r.days_overdue for r in later] == [rows[0].days_overdue + 10, rows[1].days_overdue + 10]


def test_pages_split_the_team_without_overlap(db: Database) -> None:
    pages = [db.state.worklist_page("gi-onc-east", D, page=n, page_size=2) for n in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert len({r.patient_id for p in pages for r in p}) == 5


def test_a_page_number_below_one_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="page and page_size"):
        db.state.worklist_page("gi-onc-east", D, page=0)


# The worklist pages read from the kept standings equal the pages of the team evaluated as a whole ------------

TEAM = "gi-onc-east"
QUERIES = [
    WorklistQuery(), WorklistQuery(page=2, page_size=7), WorklistQuery(page=40, page_size=7),
    *(WorklistQuery(status=status, page_size=9) for status in STATUSES),
    WorklistQuery(risk="high", page_size=9), WorklistQuery(status="overdue", risk="standard"),
    WorklistQuery(overdue_min_days=90), WorklistQuery(status="escalated", overdue_min_days=200),
    WorklistQuery(status="due", overdue_min_days=1), WorklistQuery(q="0"),
    *(WorklistQuery(sort=key, order=order, page=page, page_size=11) for key in SORT_KEYS
      for order in ("asc", "desc") for page in (1, 3)),
    *(WorklistQuery(follow_up=wanted, page_size=9) for wanted in FOLLOW_UP_FILTERS),
]


def _page_of(found: WorklistPage) -> tuple[Any, ...]:
    return found.total, found.counts, [(e.evaluation.to_dict(), e.evaluation.care_team, e.name, e.ref,
                                        e.follow_up) for e in found.entries]


def assert_pages_equal_the_evaluated_team(inst: Installation, day: date) -> None:
    for query in QUERIES:
        kept = _from_standings(inst, TEAM, day, query)
        assert kept is not None, query  # read from the kept standings, not evaluated whole
        assert _page_of(kept) == _page_of(_evaluated(inst, TEAM, day, query)), query
        assert _page_of(worklist(inst, TEAM, day, query)) == _page_of(kept)


def demo_records(size: int) -> list[dict[str, Any]]:
    """Synthetic records (netflow demo-data), four in five in TEAM, the others in hpb-west; a few ids in lower
    case, which code-point order puts after the upper-case ones (PostgreSQL's en-US collation does not)."""
    cohort = build_cohort(23, size, D, malformed_rate=0.0)
    return [{**p.record, "care_team": TEAM if n % 5 else "hpb-west"} | ({"patient_id": f"a-{n}"} if n % 50 == 1 else {})
            for n, p in enumerate(cohort.patients())]


@pytest.fixture
def inst(database_url: str) -> Iterator[Installation]:
    """400 synthetic patients imported two days ago, and the daily run of D (SQLite and PostgreSQL)."""
    upgrade(database_url)
    with Installation.from_settings(Settings(database_url=database_url)) as found:
        store(found.db, demo_records(400), now=utcnow() - timedelta(days=2))
        record_run(found.db, found.book, D, "daily")
        yield found


def test_pages_from_the_kept_standings_equal_the_team_evaluated_on_the_run_s_date(inst: Installation) -> None:
    assert_pages_equal_the_evaluated_team(inst, D)


def test_patients_whose_next_change_has_come_are_evaluated_on_the_fly(inst: Installation) -> None:
    later = D + timedelta(days=45)
    context = rules_fingerprint(inst.book, inst.db.patients.team_guidelines(), __version__)
    assert len(inst.db.state.team_stale(TEAM, later, context)) > 5  # no daily run since D

    assert_pages_equal_the_evaluated_team(inst, later)


def test_data_changed_since_the_run_is_evaluated_on_the_fly(inst: Installation) -> None:
    raws = {raw["patient_id"]: raw for raw in demo_records(400)}
    ids = sorted(pid for pid, raw in raws.items() if raw["care_team"] == TEAM)
    store(inst.db, [
        {**raws[ids[0]], "status": "recurrence", "status_date": "2026-11-20"},  # a changed record
        {**raws[ids[1]], "care_team": "hpb-west"},                             # moved out of the team
        {**raws[ids[2]], "patient_id": "NEW-1", "ref": None},                   # a new patient
    ])
    moved_in = next(pid for pid, raw in raws.items() if raw["care_team"] != TEAM)
    store(inst.db, [{**raws[moved_in], "care_team": TEAM}])
    new_scan(inst.db, ids[3], D - timedelta(days=3), "CT")
    follow_up(inst.db, ids[4], "scan_booked", D + timedelta(days=10))

    assert {"NEW-1", ids[0], ids[3], ids[4], moved_in} <= inst.db.state.changed_since(TEAM, inst.db.state.last_check()
                                                                                      or utcnow())
    for day in (D, D + timedelta(days=20)):
        assert_pages_equal_the_evaluated_team(inst, day)
    assert not any(e.evaluation.patient_id == ids[1] for e in worklist(inst, TEAM, D, WorklistQuery(
        page_size=1000)).entries)


def test_a_patient_deleted_since_the_run_leaves_the_pages(inst: Installation) -> None:
    with inst.db.engine.begin() as conn:
        gone = conn.execute(text("SELECT patient_id FROM patients WHERE care_team = :t ORDER BY patient_id LIMIT 1"),
                            {"t": TEAM}).scalar_one()
        conn.execute(text("DELETE FROM imaging_studies WHERE patient_id = :p"), {"p": gone})
        conn.execute(text("DELETE FROM patients WHERE patient_id = :p"), {"p": gone})

    assert_pages_equal_the_evaluated_team(inst, D)


def test_before_the_first_daily_run_the_team_is_evaluated_whole(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    with Installation.from_settings(Settings(database_url=sqlite_url)) as fresh:
        store(fresh.db, demo_records(50))

        assert _from_standings(fresh, TEAM, D, WorklistQuery()) is None
        assert worklist(fresh, TEAM, D, WorklistQuery()).total == fresh.db.state.team_size(TEAM) > 30


def test_after_a_rules_change_every_kept_standing_is_set_aside(inst: Installation) -> None:
    with mock.patch("netflow.services.worklist.__version__", "another engine"):
        context = rules_fingerprint(inst.book, inst.db.patients.team_guidelines(), "another engine")
        assert len(inst.db.state.team_stale(TEAM, D, context)) == inst.db.state.team_size(TEAM)

        assert_pages_equal_the_evaluated_team(inst, D)


def test_more_than_a_quarter_of_the_team_to_evaluate_evaluates_it_whole(inst: Installation) -> None:
    later = D + timedelta(days=400)
    with mock.patch("netflow.services.worklist.MIN_ON_THE_FLY", 10):
        assert _from_standings(inst, TEAM, later, WorklistQuery()) is None
        assert _page_of(worklist(inst, TEAM, later, WorklistQuery())) == _page_of(
            _evaluated(inst, TEAM, later, WorklistQuery()))
