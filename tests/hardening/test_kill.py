"""`netflow remind` killed with SIGKILL at many points of a run, then run again.

A slow SMTP server (it keeps each message, then answers after a pause) widens the sending window;
the kill points are cues seen from outside the process (the run's row, its events, its outbox,
each message arriving at the server, each 250 written) and plain delays. After the rerun every
team has exactly one digest at the server by Message-ID; a second copy is allowed only for a
message the server had kept when the kill came before netflow recorded it as sent (the
acceptance that never reached the mark), and those copies are counted and reported.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hardening.conftest import (
    AS_OF,
    CueHandler,
    assert_each_team_delivered_once,
    copy_database,
    netflow_env,
    read_ledger,
    received_ids,
    run,
    start,
)
from tests.support.smtp import SmtpTestServer

REPLY_DELAY = 0.15  # seconds the server waits before its 250, in the killed run only


@dataclass(frozen=True)
class KillPoint:
    """When to kill: once `cue` is true (polled every 2 ms, or set by the server), after `wait` seconds."""

    name: str
    cue: str  # "start", "run", "events", "outbox", "data:N" (message N arrived), "reply:N" (its 250 sent)
    wait: float = 0.0


KILL_POINTS = [
    KillPoint("at start-up", "start", 0.05),
    KillPoint("while importing modules", "start", 0.25),
    KillPoint("as the run is registered", "run"),
    KillPoint("early in recording", "run", 0.01),
    KillPoint("late in recording", "run", 0.04),
    KillPoint("once events are recorded", "events"),
    KillPoint("while building", "events", 0.02),
    KillPoint("once the outbox is written", "outbox"),
    KillPoint("while message 1 is accepted", "data:1"),
    KillPoint("just after message 1 is accepted", "reply:1"),
    KillPoint("while message 2 is accepted", "data:2"),
    KillPoint("just after message 2 is accepted", "reply:2"),
    KillPoint("between messages 2 and 3", "reply:2", 0.005),
    KillPoint("while message 3 is accepted", "data:3"),
    KillPoint("just after message 3 is accepted", "reply:3"),
    KillPoint("just after the last message is accepted", "reply:4"),
]


def _count(db: sqlite3.Connection, query: str) -> int:
    try:
        return int(db.execute(query).fetchone()[0])
    except sqlite3.Error:  # the table is being written or not there yet: not yet
        return 0


def _poller(path: Path, cue: str) -> Callable[[], bool]:
    queries = {"run": "SELECT count(*) FROM runs", "events": "SELECT count(*) FROM events",
               "outbox": "SELECT count(*) FROM outbox"}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
    return lambda: _count(db, queries[cue]) > 0


def kill_then_rerun(point: KillPoint, template: Path, folder: Path, server: SmtpTestServer) -> tuple[int, int]:
    """One round: a private database, a run killed at `point`, a rerun. Returns (duplicates, lost acks)."""
    handler = server.handler
    assert isinstance(handler, CueHandler)
    handler.reset()
    url = copy_database(template, folder)
    env = netflow_env(NETFLOW_DATABASE_URL=url, NETFLOW_SMTP_URL=server.url,
                      NETFLOW_MAIL_FROM="netflow@hospital.example")
    cued = threading.Event()
    victim: list[int] = []
    handler.delay = REPLY_DELAY
    if point.cue.startswith(("data:", "reply:")):
        kind, number = point.cue.split(":")

        def hook(n: int) -> None:
            """Runs on the server's thread: with no wait, the kill lands exactly on the cue."""
            if n == int(number):
                if not point.wait and victim:
                    os.kill(victim[0], signal.SIGKILL)
                cued.set()

        handler.on_data, handler.on_reply = (hook, None) if kind == "data" else (None, hook)
        polled: Callable[[], bool] = cued.is_set
    elif point.cue == "start":
        cued.set()
        polled = cued.is_set
    else:
        polled = _poller(Path(url.removeprefix("sqlite:///")), point.cue)
    process = start("remind", "--as-of", AS_OF, env=env)
    victim.append(process.pid)
    deadline = time.monotonic() + 20
    while not polled() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if point.cue == "start" or process.poll() is None:
        time.sleep(point.wait)
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=20)
    killed = read_ledger(url)
    marked = {row["message_id"] for row in killed.outbox if row["status"] == "sent"}
    lost_acks = frozenset(set(received_ids(server)) - marked)
    handler.delay, handler.on_data, handler.on_reply = 0.0, None, None

    rerun = run("remind", "--as-of", AS_OF, env=env)

    assert rerun.returncode == 0, f"{point.name}: {rerun.stderr[-2000:]}"
    ledger = read_ledger(url)
    assert ledger.unassigned == 0, point.name
    assert {row["team_key"] for row in ledger.outbox} == ledger.event_teams, point.name
    assert len(ledger.event_teams) == 4, point.name  # the demo cohort's four teams all have news
    return assert_each_team_delivered_once(ledger, server, lost_acks=lost_acks), len(lost_acks)


def test_a_run_killed_at_any_point_is_completed_by_the_rerun_with_only_unconfirmed_acceptances_resent(
        demo_sqlite: Path, slow_smtp: SmtpTestServer, tmp_path: Path, record_property: Callable[..., None],
        capsys: pytest.CaptureFixture[str]) -> None:
    rounds = {point.name: kill_then_rerun(point, demo_sqlite, tmp_path / f"round{n}", slow_smtp)
              for n, point in enumerate(KILL_POINTS)}

    duplicates = sum(d for d, _ in rounds.values())
    record_property("sigkill_rounds", len(rounds))
    record_property("sigkill_duplicates_after_unconfirmed_acceptance", duplicates)
    with capsys.disabled():
        print(f"\nSIGKILL: {len(rounds)} kill points, {duplicates} duplicate(s), each a message the server had "
              "kept before the kill and netflow had not marked sent (same Message-ID):")
        for name, (dup, lost) in rounds.items():
            print(f"  {name:<42} duplicates {dup}  unconfirmed acceptances {lost}")
    assert rounds["while message 1 is accepted"] == (1, 1)  # the kill inside the window does resend
    assert duplicates == sum(lost for _, lost in rounds.values())
