"""What the hardening tests share: an SMTP server that answers slowly on cue, a demo cohort made once,
`netflow` as a subprocess, and the checks every delivery test ends with.

    def test_something(slow_smtp: SmtpTestServer) -> None:
        slow_smtp.handler.delay = 0.3          # keep each message, then answer 250 after 0.3 s
        slow_smtp.handler.on_data = hook        # told the DATA number as each message arrives
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from netflow.adapters.db import make_engine
from netflow.adapters.tables import events, outbox
from netflow.cli import main
from tests.dags.conftest import airflow_db, dagbag, no_retries  # noqa: F401 (Airflow's fixtures, and its AIRFLOW_HOME)
from tests.support.smtp import RecordingHandler, SmtpTestServer, _serve, free_port

NETFLOW = str(Path(sys.executable).with_name("netflow"))
AS_OF = "2026-12-01"
DEMO_PATIENTS = 300
DEMO_SEED = 11


@dataclass
class CueHandler(RecordingHandler):
    """Keeps each message as it arrives (as a real server queues it), then waits `delay` seconds before
    answering 250, for the first `slow_first` messages (all when None).

    `on_data(n)` is called as the nth DATA arrives, `on_reply(n)` just after its 250 is written: a test
    that kills the client on one of these cues lands before or after the server's acceptance. The
    messages numbered in `hang` are neither kept nor answered: the server hangs until it is stopped."""

    delay: float = 0.0
    slow_first: int | None = None
    hang: set[int] = field(default_factory=set)
    on_data: Callable[[int], None] | None = None
    on_reply: Callable[[int], None] | None = None
    replies: int = 0
    _cue_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.seen + 1 in self.hang:
            self.seen += 1
            if self.on_data is not None:
                self.on_data(self.seen)
            await asyncio.sleep(3600)
        reply = await super().handle_DATA(server, session, envelope)
        nth = self.seen
        if self.on_data is not None:
            self.on_data(nth)
        if self.delay and (self.slow_first is None or nth <= self.slow_first):
            await asyncio.sleep(self.delay)
        if self.on_reply is not None:
            hook = self.on_reply
            asyncio.get_running_loop().call_soon(hook, nth)  # runs once the 250 below is written
        with self._cue_lock:
            self.replies += 1
        return reply

    def reset(self) -> None:
        """Forget every message and cue (between rounds of one test)."""
        self.messages.clear()
        self.seen = self.replies = 0
        self.delay, self.slow_first, self.on_data, self.on_reply = 0.0, None, None, None
        self.hang = set()


@pytest.fixture
def slow_smtp() -> Iterator[SmtpTestServer]:
    """Plain SMTP on 127.0.0.1 with a CueHandler (no delay until a test sets one)."""
    yield from _serve(SmtpTestServer(free_port(), CueHandler()))


# --- a demo cohort, made once per session ---------------------------------------------------------


@dataclass(frozen=True)
class DemoFiles:
    cohort: Path
    teams: Path


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    """`netflow demo-data --patients 300`: a JSON Lines cohort (a few rows malformed on purpose) and its teams."""
    folder = tmp_path_factory.mktemp("demo")
    files = DemoFiles(folder / "cohort.jsonl", folder / "teams.yaml")
    assert main(["demo-data", "--patients", str(DEMO_PATIENTS), "--seed", str(DEMO_SEED), "--out",
                 str(files.cohort), "--teams-out", str(files.teams)]) == 0
    return files


def load_demo(url: str, files: DemoFiles) -> None:
    """Upgrade the database at `url` and load the demo teams and cohort, as a person would."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETFLOW_DATABASE_URL", url)
        assert main(["db", "upgrade"]) == 0
        assert main(["teams", "load", str(files.teams)]) == 0
        assert main(["import", str(files.cohort)]) == 0


@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory, demo_files: DemoFiles) -> Path:
    """A SQLite patient database holding the demo cohort: copy it (`copy_database`) before changing it."""
    path = tmp_path_factory.mktemp("demo-db") / "netflow.db"
    load_demo(f"sqlite:///{path}", demo_files)
    return path


def copy_database(template: Path, folder: Path) -> str:
    """A private copy of a SQLite database (and its WAL files); returns its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in template.parent.glob(template.name + "*"):
        if not part.name.endswith(".lock"):
            shutil.copy(part, folder / part.name)
    return f"sqlite:///{folder / template.name}"


# --- netflow as a separate process ------------------------------------------------------------------


def netflow_env(**settings: str) -> dict[str, str]:
    """The environment of a `netflow` subprocess: this one, plus NETFLOW_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFLOW_")}
    env.update(settings)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([NETFLOW, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NETFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)


# --- what every delivery test checks at the end -------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    """The outbox and events of a patient database, as the checks need them."""

    outbox: list[dict[str, Any]]
    events: int
    distinct_events: int
    unassigned: int
    event_teams: frozenset[str]


def read_ledger(url: str) -> Ledger:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                select(outbox.c.id, outbox.c.team_key, outbox.c.as_of, outbox.c.message_id, outbox.c.status,
                       outbox.c.attempts, outbox.c.last_error).order_by(outbox.c.id))]
            total = conn.execute(select(func.count()).select_from(events)).scalar_one()
            distinct = conn.execute(select(func.count()).select_from(
                select(events.c.patient_id, events.c.kind, events.c.event_key).distinct().subquery())).scalar_one()
            unassigned = conn.execute(select(func.count()).select_from(events).where(
                events.c.outbox_id.is_(None), events.c.kind != "closed")).scalar_one()
            teams = frozenset(conn.execute(select(events.c.care_team).where(events.c.kind != "closed").distinct())
                              .scalars())
    finally:
        engine.dispose()
    return Ledger(rows, int(total), int(distinct), int(unassigned), teams)


def received_ids(server: SmtpTestServer) -> Counter[str]:
    """How many times the server accepted each Message-ID."""
    return Counter(str(m.message["Message-ID"]) for m in server.messages)


def assert_each_team_delivered_once(ledger: Ledger, server: SmtpTestServer, *, lost_acks: frozenset[str] = frozenset()
                                    ) -> int:
    """Every digest is sent, one per team and date; the server holds each Message-ID once, or twice when its
    first acceptance was never confirmed to netflow (`lost_acks`). Returns the number of such duplicates."""
    by_team = Counter((row["team_key"], row["as_of"]) for row in ledger.outbox)
    assert all(n == 1 for n in by_team.values()), f"a team has more than one digest for a date: {by_team}"
    assert [row for row in ledger.outbox if row["status"] != "sent"] == []
    sent_ids = {row["message_id"] for row in ledger.outbox}
    counts = received_ids(server)
    assert set(counts) == sent_ids, "the server holds a message netflow never marked sent, or misses one"
    duplicates = {mid: n for mid, n in counts.items() if n > 1}
    assert all(n == 2 and mid in lost_acks for mid, n in duplicates.items()), (
        f"duplicates other than a resend after an unconfirmed acceptance: {duplicates}, lost acks {lost_acks}")
    assert ledger.events == ledger.distinct_events
    return len(duplicates)


# --- patient data that must never show outside the patient database and the emails ---------------


@dataclass(frozen=True)
class Identifiers:
    names: frozenset[str]
    mrns: frozenset[str]
    birth_dates: frozenset[str]

    def found_in(self, text: str) -> list[str]:
        """Every name, MRN or birth date of the cohort that occurs in `text`."""
        return sorted(s for s in self.names | self.mrns | self.birth_dates if s in text)


def identifiers(cohort: Path) -> Identifiers:
    """The names, MRNs and birth dates of a JSON Lines cohort (malformed rows included, where readable)."""
    names, mrns, births = set(), set(), set()
    for line in cohort.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict):
            continue
        for value, found in ((row.get("name"), names), (row.get("patient_id"), mrns),
                             (row.get("birth_date"), births)):
            if isinstance(value, str) and len(value) >= 6:
                found.add(value)
    return Identifiers(frozenset(names), frozenset(mrns), frozenset(births))
