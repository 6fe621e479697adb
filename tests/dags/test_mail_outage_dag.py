"""The daily DAG and a mail outage (issue 16): `send` fails with what is wrong, is retried for hours, and
the digests wait in the outbox, uncounted, until the server is back. dag.test(), real SMTP (aiosmtpd)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from netflow.adapters.db import make_engine
from netflow.adapters.tables import outbox
from tests.support.cohort import make_cohort
from tests.support.smtp import RecordingHandler, SmtpTestServer, _serve, free_port

D = "2026-12-01"
CONF = {"as_of": D, "dry_run": False, "teams": []}  # every param: an earlier dag.test(run_conf=...) can leave its own


def smtp_connection(port: int) -> str:
    """AIRFLOW_CONN_SMTP_DEFAULT: where the DAG sends the digests and its failure alert."""
    return (f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true"
            "&from_email=netflow%40hospital.example")


def outbox_rows(url: str) -> list[tuple[str, int]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [(r.status, r.attempts) for r in conn.execute(
                select(outbox.c.status, outbox.c.attempts).order_by(outbox.c.id))]
    finally:
        engine.dispose()


def least_retry_time(task: Any) -> timedelta:
    """The shortest time Airflow can take over all of a task's retries: each wait is at least
    retry_delay * multiplier ** (try - 1) (Airflow adds up to as much again), capped at max_retry_delay."""
    multiplier = 2.0 if task.retry_exponential_backoff is True else float(task.retry_exponential_backoff)
    waits = [task.retry_delay * multiplier ** (n - 1) for n in range(1, task.retries + 1)]
    return sum((min(w, task.max_retry_delay) for w in waits), timedelta())


def test_the_send_task_is_retried_for_at_least_twelve_hours_with_exponential_backoff(dagbag: Any) -> None:
    send = dagbag.dags["net_surveillance_daily"].get_task("send")

    assert send.retry_exponential_backoff and float(send.retry_exponential_backoff) > 1
    assert send.max_retry_delay <= timedelta(hours=2)
    assert least_retry_time(send) >= timedelta(hours=12)
    assert least_retry_time(send) < timedelta(hours=20)  # done before the next weekday's 06:00 run


@pytest.mark.usefixtures("airflow_db", "no_retries")
def test_with_the_mail_server_down_send_fails_saying_why_and_the_rerun_delivers_every_digest_once(
        dagbag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from airflow.sdk import DagRunState
    from airflow.utils.state import TaskInstanceState

    port = free_port()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(port))
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, "smtp://127.0.0.1:1")
    dag = dagbag.dags["net_surveillance_daily"]

    down = dag.test(run_conf=CONF)

    assert down.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in down.get_task_instances()}
    assert [task for task, state in states.items() if state == TaskInstanceState.FAILED] == ["send"]
    assert outbox_rows(cohort.url) == [("pending", 0)] * 3
    printed = capfd.readouterr()
    logged = printed.out + printed.err  # dag.test() logs tasks to standard output
    assert f"could not connect to SMTP server 127.0.0.1:{port}" in logged
    assert "nothing was sent, every message stays pending" in logged

    server = SmtpTestServer(port, RecordingHandler())
    serving = _serve(server)
    next(serving)
    try:
        up = dag.test(run_conf=CONF)
        assert up.state == DagRunState.SUCCESS
        assert outbox_rows(cohort.url) == [("sent", 1)] * 3
        digests = [m for m in server.messages if m.rcpt_tos != ("ops@hospital.example",)]
        assert len(digests) == 3 and len({str(m.message["Message-ID"]) for m in digests}) == 3
        # the first run's failure alert went to the same server, which was down: it never arrived
        assert [m for m in server.messages if m.rcpt_tos == ("ops@hospital.example",)] == []
    finally:
        serving.close()
