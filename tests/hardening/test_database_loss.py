"""The patient database goes away while `netflow remind` runs (PostgreSQL: every session of the
database terminated from another connection, as a failover or an administrator does).

The run fails clearly: exit status 1, one line on standard error, no traceback, no patient data,
no password. The rerun completes it: each team's digest once, no event twice.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from netflow.cli import main
from tests.hardening.conftest import (
    AS_OF,
    CueHandler,
    DemoFiles,
    assert_each_team_delivered_once,
    identifiers,
    load_demo,
    netflow_env,
    read_ledger,
    received_ids,
    run,
    start,
)
from tests.support.db import POSTGRES_ADMIN
from tests.support.smtp import SmtpTestServer, free_port

DB_PASSWORD = "Db-pa55-Zq81x"  # trust authentication ignores it; it must never be printed


def with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)


def terminate_sessions(database: str) -> int:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        row = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()
    return int(row[0]) if row else 0


def has_run(database: str) -> bool:
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={database}") as conn:
        row = conn.execute("SELECT count(*) FROM runs").fetchone()
    return bool(row and row[0])


def assert_one_clear_line(stderr: str, files: DemoFiles) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("netflow remind: error: the patient database failed mid-run (")
    assert lines[0].endswith("run the same command again")
    assert "Traceback" not in stderr and DB_PASSWORD not in stderr
    assert identifiers(files.cohort).found_in(stderr) == []


@pytest.fixture
def demo_postgres(postgres_url: str, demo_files: DemoFiles) -> str:
    load_demo(postgres_url, demo_files)
    return postgres_url


@pytest.mark.postgres
def test_losing_the_database_while_sending_stops_the_run_with_one_line_and_the_rerun_completes_it(
        demo_postgres: str, demo_files: DemoFiles, slow_smtp: SmtpTestServer) -> None:
    database = demo_postgres.rsplit("/", 1)[1]
    env = netflow_env(NETFLOW_DATABASE_URL=with_password(demo_postgres), NETFLOW_SMTP_URL=slow_smtp.url)
    handler = slow_smtp.handler
    assert isinstance(handler, CueHandler)
    terminated: list[int] = []

    def fail_over(n: int) -> None:  # on the server's thread, while message 1 waits for its reply
        if n == 1:
            terminated.append(terminate_sessions(database))

    handler.delay, handler.on_data = 0.1, fail_over

    process = start("remind", "--as-of", AS_OF, env=env)
    _, err = process.communicate(timeout=60)

    assert terminated and terminated[0] >= 1
    assert process.returncode == 1, err[-2000:]
    assert "LockLost" in err
    assert_one_clear_line(err, demo_files)
    assert len(slow_smtp.messages) == 1  # it stopped before the next message instead of sending unlocked
    rerun_and_check(demo_postgres, env, slow_smtp)


@pytest.mark.postgres
def test_losing_the_database_while_recording_fails_with_one_line_and_the_rerun_loses_and_doubles_nothing(
        demo_postgres: str, demo_files: DemoFiles, slow_smtp: SmtpTestServer) -> None:
    database = demo_postgres.rsplit("/", 1)[1]
    env = netflow_env(NETFLOW_DATABASE_URL=with_password(demo_postgres), NETFLOW_SMTP_URL=slow_smtp.url)
    handler = slow_smtp.handler
    assert isinstance(handler, CueHandler)
    handler.delay = 0.4

    process = start("remind", "--as-of", AS_OF, env=env)
    deadline = time.monotonic() + 30
    while not has_run(database) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    until = time.monotonic() + 0.6
    while time.monotonic() < until and process.poll() is None:  # every session, for as long as a failover
        terminate_sessions(database)
        time.sleep(0.01)
    _, err = process.communicate(timeout=30)

    assert process.returncode == 1, err[-2000:]
    assert_one_clear_line(err, demo_files)
    rerun_and_check(demo_postgres, env, slow_smtp)


def rerun_and_check(url: str, env: dict[str, str], server: SmtpTestServer) -> None:
    """Rerun at full speed; then each team has its digest once (twice only if an acceptance went unmarked)."""
    marked = {row["message_id"] for row in read_ledger(url).outbox if row["status"] == "sent"}
    lost = frozenset(set(received_ids(server)) - marked)
    handler = server.handler
    assert isinstance(handler, CueHandler)
    handler.delay = 0.0
    rerun = run("remind", "--as-of", AS_OF, env=env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ledger = read_ledger(url)
    assert ledger.unassigned == 0 and {row["team_key"] for row in ledger.outbox} == ledger.event_teams
    assert assert_each_team_delivered_once(ledger, server, lost_acks=lost) == len(lost)


def test_a_database_that_cannot_be_reached_is_one_line_naming_the_setting_without_its_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_DATABASE_URL", f"postgresql+psycopg://postgres:{DB_PASSWORD}@127.0.0.1:"
                                               f"{free_port()}/netflow?connect_timeout=2")

    assert main(["remind", "--as-of", AS_OF]) == 2

    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "NETFLOW_DATABASE_URL" in err and "Traceback" not in err
    assert DB_PASSWORD not in err
