"""Incremental daily runs through `netflow remind` (and `--full`), and on PostgreSQL as on SQLite."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from netflow.adapters.database import Database
from netflow.adapters.db import upgrade, utcnow
from netflow.guidelines import load_rulebook
from netflow.reminders.recording import record_run
from tests.integration.test_incremental import Clock, follow_up, new_scan, recorded, standings, store
from tests.support.cohort import Cohort, make_cohort
from tests.support.records import record, scan
from tests.support.smtp import SmtpTestServer

BOOK = load_rulebook()
START = date(2026, 11, 2)


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> Cohort:
    return make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)


def test_remind_says_how_many_were_unchanged_and_full_evaluates_everyone(
        cohort: Cohort, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(utcnow() + timedelta(days=30))  # the imported data is a month old
    monkeypatch.setattr("netflow.adapters.state.utcnow", clock)
    assert cohort.netflow("remind", "--as-of", "2026-12-01") == 0
    clock.next_day()
    capsys.readouterr()
    assert cohort.netflow("remind", "--as-of", "2026-12-01") == 0
    assert "7 patients evaluated on 2026-12-01, 7 of them unchanged" in capsys.readouterr().out
    assert cohort.netflow("remind", "--as-of", "2026-12-01", "--full") == 0
    out = capsys.readouterr().out
    assert "7 patients evaluated on 2026-12-01\n" in out and "events: none" in out


def test_incremental_runs_on_postgresql_record_what_full_runs_on_sqlite_do(database_url: str, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    upgrade(database_url)
    upgrade(reference_url := f"sqlite:///{tmp_path / 'full.db'}")
    incremental, full = Database.open(database_url), Database.open(reference_url)
    clock = Clock()
    monkeypatch.setattr("netflow.adapters.state.utcnow", clock)
    people = [record(patient_id=f"P{i:02d}", imaging=[scan(f"2026-{1 + i % 10:02d}-15")]) for i in range(10)]
    try:
        for db in (incremental, full):
            store(db, people, clock.data())
        for step, days in enumerate((0, 1, 30, 0, 45, -20, 60)):
            as_of = START + timedelta(days=days + 40 * step)
            clock.next_day(3)
            for db in (incremental, full):
                if step == 2:
                    new_scan(db, "P03", as_of - timedelta(days=5), "MRI", clock.data())
                if step == 4:
                    follow_up(db, "P05", "deferred", as_of + timedelta(days=30), clock.data())
            fast = record_run(incremental, BOOK, as_of, f"run-{step}")
            slow = record_run(full, BOOK, as_of, f"run-{step}", full=True)
            assert (fast.by_status, fast.teams, fast.events) == (slow.by_status, slow.teams, slow.events)
            assert recorded(incremental) == recorded(full)
            assert standings(incremental) == standings(full)
        assert not fast.full
    finally:
        incremental.dispose()
        full.dispose()
