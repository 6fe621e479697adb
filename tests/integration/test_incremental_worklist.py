"""The worklist read from where each patient stands (patient_state): counts per status and pages by urgency."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from netflow.adapters.database import Database
from netflow.adapters.db import upgrade
from netflow.guidelines import load_rulebook
from netflow.reminders.recording import record_run
from tests.integration.test_incremental import store
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
