"""bench/replay.py on a tiny cohort: the replay's A (incremental) and B (full) agree day after day, and its
comparison sees a standing that differs. The netflow commands run in this process (bench/replay.py runs each
as a child process) against a real SMTP server."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path

import pytest

from bench.cohorts import Database
from bench.replay import Ran, Replay, Runner, compare, execute, prepare, standings_of
from netflow.cli import main
from tests.support.smtp import SmtpTestServer

FIRST = date(2026, 12, 1)


def in_process(monkeypatch: pytest.MonkeyPatch, smtp_url: str) -> Runner:
    def run(db: Database, args: Sequence[str]) -> Ran:
        monkeypatch.setenv("NETFLOW_DATABASE_URL", db.url)
        monkeypatch.setenv("NETFLOW_SMTP_URL", smtp_url)
        out = io.StringIO()
        started = time.perf_counter()
        with redirect_stdout(out):
            assert main(list(args)) == 0, out.getvalue()
        return Ran(time.perf_counter() - started, out.getvalue())
    return run


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> Replay:
    jsonl, teams = tmp_path / "patients.jsonl", tmp_path / "teams.yaml"
    assert main(["demo-data", "--patients", "150", "--seed", "3", "--out", str(jsonl),
                 "--teams-out", str(teams)]) == 0
    run = in_process(monkeypatch, smtp_server.url)
    a, b = Database.sqlite(tmp_path / "a.db"), Database.sqlite(tmp_path / "b.db")
    prepare(a, b, None, lambda: (jsonl, teams), run, days=3)
    return Replay(a, b, run, tmp_path, days=3, seed=5, rate=0.05)


def test_three_replayed_days_record_the_same_events_and_standings_incrementally_as_in_full(replay: Replay) -> None:
    days = replay.replay(FIRST, 3)
    assert [d.day for d in days] == [date(2026, 11, 30), FIRST, date(2026, 12, 2), date(2026, 12, 3)]
    assert [d.differences for d in days] == [0, 0, 0, 0]
    baseline, *replayed = days
    assert baseline.events.rows_a == baseline.events.rows_b > 0
    assert baseline.evaluated_a == baseline.patients
    assert all(d.changes > 0 for d in replayed)
    assert all(d.evaluated_a < d.patients for d in replayed)  # A ran incrementally
    assert all(d.standings.rows_a == d.standings.rows_b == d.patients for d in replayed)
    assert all(d.digests.rows_a == d.digests.rows_b > 0 for d in days)  # the team digests were compared too
    assert replayed[-1].patients > baseline.patients  # the newcomers were imported


def test_the_comparison_sees_a_standing_whose_next_change_differs(replay: Replay) -> None:
    replay.one_day(FIRST)
    assert compare(standings_of(replay.a), standings_of(replay.b)).keys == []
    execute(replay.b, [("UPDATE patient_state SET next_change = '2099-01-01' WHERE patient_id = "
                        "(SELECT MIN(patient_id) FROM patient_state)", [])])
    diff = compare(standings_of(replay.a), standings_of(replay.b))
    assert len(diff.keys) == 1 and diff.rows_a == diff.rows_b


def test_the_comparison_sees_an_event_only_one_side_recorded() -> None:
    a = [("P1", "team", "overdue", "k1"), ("P2", "team", "due", "k2")]
    b = [("P1", "team", "overdue", "k1"), ("P2", "team", "due", "k2"), ("P3", "team", "due", "k3")]
    diff = compare(iter(a), iter(b))
    assert (diff.rows_a, diff.rows_b, diff.keys) == (2, 3, ["P3"])
