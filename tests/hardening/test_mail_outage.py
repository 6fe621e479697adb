"""A mail outage loses nothing (issue 16): only the server refusing a message counts as an attempt.

Real servers throughout: nothing listening on the port, aiosmtpd with STARTTLS and a required login,
aiosmtpd refusing recipients. `netflow remind`, `netflow outbox` and `netflow report` run as a person
runs them (the CLI's `main`), against a SQLite patient database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from netflow.adapters.db import make_engine
from netflow.adapters.tables import outbox
from tests.hardening.conftest import (
    CueHandler,
    assert_each_team_delivered_once,
    read_ledger,
)
from tests.support.cohort import TEAMS_YAML, Cohort, cohort_records, make_cohort
from tests.support.smtp import TEST_USER, SmtpTestServer, _serve, free_port

D = "2026-12-01"
TEAMS = 3  # tests/support/cohort.py: three teams, each with new events on D
RECIPIENTS = sorted(set(re.findall(r"[\w.]+@hospital\.example", TEAMS_YAML)))  # every member of every team


@pytest.fixture
def down_port() -> int:
    """A port on 127.0.0.1 where nothing listens (until a test starts a server on it)."""
    return free_port()


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, down_port: int) -> Cohort:
    return make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, f"smtp://127.0.0.1:{down_port}")


def rows(cohort: Cohort) -> list[dict[str, object]]:
    """The outbox rows the checks need, in id order."""
    engine = make_engine(cohort.url)
    try:
        with engine.connect() as conn:
            o = outbox.c
            query = select(o.id, o.status, o.attempts, o.last_error, o.requeued_at, o.requeued_by).order_by(o.id)
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def served(port: int) -> Iterator[SmtpTestServer]:
    """A plain SMTP server on `port` (a server that was down, back up)."""
    return _serve(SmtpTestServer(port, CueHandler()))


def patient_identifiers() -> set[str]:
    """The cohort's names, MRNs and birth dates."""
    found: set[str] = set()
    for row in cohort_records():
        found.update(str(row[k]) for k in ("patient_id", "name", "birth_date") if row.get(k))
    return found


# --- a server that cannot be reached ------------------------------------------------------------------


def test_five_runs_with_the_server_down_then_one_with_it_up_deliver_every_digest_once_at_attempt_one(
        cohort: Cohort, down_port: int, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "3")  # fewer than the runs: the old rule would have failed them

    for _ in range(5):
        assert cohort.netflow("remind", "--as-of", D) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert (f"netflow remind: error: could not connect to SMTP server 127.0.0.1:{down_port} (connection refused)"
                ": nothing was sent, every message stays pending, attempts unchanged (3); fix NETFLOW_SMTP_URL "
                "or the server") in err and err.rstrip().endswith("then run again")
        down = rows(cohort)
        assert [(r["status"], r["attempts"]) for r in down] == [("pending", 0)] * TEAMS
        assert all("could not connect" in str(r["last_error"]) for r in down)

    serving = served(down_port)
    server = next(serving)
    try:
        assert cohort.netflow("remind", "--as-of", D) == 0
        assert [(r["status"], r["attempts"], r["last_error"]) for r in rows(cohort)] == [("sent", 1, None)] * TEAMS
        assert assert_each_team_delivered_once(read_ledger(cohort.url), server) == 0
        assert server.connections == 1
    finally:
        serving.close()


def test_a_dns_failure_leaves_every_message_pending_and_names_the_host(
        cohort: Cohort, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_SMTP_URL", "smtp://mail.invalid:25")  # RFC 6761: never resolves
    monkeypatch.setenv("NETFLOW_SMTP_ALLOW_INSECURE", "true")
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "1")

    assert cohort.netflow("remind", "--as-of", D) == 1

    assert "could not connect to SMTP server mail.invalid:25" in capsys.readouterr().err
    assert [(r["status"], r["attempts"]) for r in rows(cohort)] == [("pending", 0)] * TEAMS


# --- TLS and login failures --------------------------------------------------------------------------------


def test_a_tls_failure_leaves_messages_pending_however_often_it_happens_until_the_ca_is_set(
        starttls_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, starttls_server.url)
    monkeypatch.delenv("NETFLOW_SMTP_CA_FILE", raising=False)
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "1")

    for _ in range(2):
        assert cohort.netflow("remind", "--as-of", D) == 1
        err = capsys.readouterr().err
        assert "could not be verified" in err and "set NETFLOW_SMTP_CA_FILE, then run again" in err
        assert [(r["status"], r["attempts"]) for r in rows(cohort)] == [("pending", 0)] * TEAMS
    assert starttls_server.messages == []

    assert starttls_server.ca_file is not None
    monkeypatch.setenv("NETFLOW_SMTP_CA_FILE", starttls_server.ca_file)
    assert cohort.netflow("remind", "--as-of", D) == 0
    assert [(r["status"], r["attempts"]) for r in rows(cohort)] == [("sent", 1)] * TEAMS
    assert assert_each_team_delivered_once(read_ledger(cohort.url), starttls_server) == 0


def test_a_refused_login_leaves_messages_pending_until_the_password_is_fixed(
        starttls_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "not-the-password"
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch,
                         f"smtp+starttls://{TEST_USER}:{quote(wrong)}@127.0.0.1:{starttls_server.port}")
    assert starttls_server.ca_file is not None
    monkeypatch.setenv("NETFLOW_SMTP_CA_FILE", starttls_server.ca_file)
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "1")

    assert cohort.netflow("remind", "--as-of", D) == 1

    err = capsys.readouterr().err
    assert "refused the login of user 'netflow'" in err
    assert "check the user name and password in NETFLOW_SMTP_URL, then run again" in err
    assert wrong not in err
    assert [(r["status"], r["attempts"]) for r in rows(cohort)] == [("pending", 0)] * TEAMS
    monkeypatch.setenv("NETFLOW_SMTP_URL", starttls_server.url)
    assert cohort.netflow("remind", "--as-of", D) == 0
    assert [(r["status"], r["attempts"]) for r in rows(cohort)] == [("sent", 1)] * TEAMS


# --- a refusal of the message still counts; requeue without SQL ------------------------------------------


def test_a_5xx_to_rcpt_counts_ends_failed_and_outbox_retry_then_delivers_it(
        smtp_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "2")
    for address in RECIPIENTS:
        smtp_server.reject_recipient(address, 550, "5.1.1 mailbox unavailable")

    assert cohort.netflow("remind", "--as-of", D) == 1
    assert [(r["status"], r["attempts"]) for r in rows(cohort)] == [("pending", 1)] * TEAMS
    assert cohort.netflow("remind", "--as-of", D) == 1
    failed = rows(cohort)
    assert [(r["status"], r["attempts"]) for r in failed] == [("failed", 2)] * TEAMS
    assert all("refused every recipient (codes [550])" in str(r["last_error"]) for r in failed)
    capsys.readouterr()

    assert cohort.netflow("outbox", "list") == 0
    listed = capsys.readouterr().out
    assert listed.splitlines()[0].split() == ["ID", "KIND", "TEAM", "AS", "OF", "STATUS", "ATTEMPTS", "CREATED",
                                              "(UTC)", "LAST", "ERROR"]
    assert [line.split()[4] for line in listed.splitlines()[1:4]] == ["failed"] * TEAMS and "gi-onc-east" in listed
    assert "outbox: 0 pending, 0 sent, 3 failed" in listed and "netflow outbox retry --failed" in listed

    assert cohort.netflow("outbox", "retry", "--failed", "--by", "dr.ops") == 0
    assert "requeued 3 message(s) by dr.ops: 1, 2, 3" in capsys.readouterr().out
    requeued = rows(cohort)
    assert [(r["status"], r["attempts"], r["requeued_by"]) for r in requeued] == [("pending", 0, "dr.ops")] * TEAMS
    assert all(str(r["last_error"]).startswith("requeued by dr.ops at ") and r["requeued_at"] for r in requeued)
    assert all("after 2 attempt(s); before: SMTP server" in str(r["last_error"]) for r in requeued)

    smtp_server.handler.refuse_recipients.clear()
    assert cohort.netflow("remind", "--as-of", D) == 0
    delivered = rows(cohort)
    assert [(r["status"], r["attempts"], r["requeued_by"]) for r in delivered] == [("sent", 1, "dr.ops")] * TEAMS
    assert assert_each_team_delivered_once(read_ledger(cohort.url), smtp_server) == 0


def test_outbox_retry_of_an_id_that_is_not_failed_requeues_nothing(
        smtp_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "1")
    smtp_server.reject(1, 554, "5.7.1 refused for the test")
    assert cohort.netflow("remind", "--as-of", D) == 1
    assert [r["status"] for r in rows(cohort)] == ["failed", "sent", "sent"]
    capsys.readouterr()

    assert cohort.netflow("outbox", "retry", "1", "2") == 2
    assert "only failed messages can be requeued (2 is sent); nothing was requeued" in capsys.readouterr().err
    assert cohort.netflow("outbox", "retry", "1", "99") == 2
    assert "no outbox message with id 99; nothing was requeued" in capsys.readouterr().err
    assert cohort.netflow("outbox", "retry") == 2
    assert [r["status"] for r in rows(cohort)] == ["failed", "sent", "sent"]

    assert cohort.netflow("outbox", "retry", "1", "--by", "ops") == 0
    assert [(r["status"], r["attempts"]) for r in rows(cohort)] == [("pending", 0), ("sent", 1), ("sent", 1)]
    assert cohort.netflow("outbox", "retry", "--failed") == 0
    assert "no failed message to requeue" in capsys.readouterr().out


def test_outbox_list_shows_no_patient_data(
        smtp_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "1")
    smtp_server.reject(2, 554, "5.7.1 refused for the test")
    assert cohort.netflow("remind", "--as-of", D) == 1
    capsys.readouterr()

    listed = []
    for status in ([], ["--status", "pending"], ["--status", "sent"], ["--status", "failed"]):
        assert cohort.netflow("outbox", "list", *status) == 0
        listed.append(capsys.readouterr().out)

    everything = "\n".join(listed)
    assert sorted(s for s in patient_identifiers() if s in everything) == []
    assert "@" not in everything.replace("@hospital.example", "")  # no address but the staff's, in replies
    assert "Subject" not in everything and "NET surveillance" not in everything
    assert [line.split()[4] for line in listed[2].splitlines()[1:3]] == ["sent", "sent"]
    assert "outbox: 0 pending, 2 sent, 1 failed" in listed[2]
    assert "no pending message" in listed[1]
    engine = make_engine(cohort.url)
    try:
        with engine.connect() as conn:  # the emails do hold the identifiers: the search works
            bodies = "\n".join(conn.execute(select(outbox.c.body_text)).scalars())
    finally:
        engine.dispose()
    assert [s for s in patient_identifiers() if s in bodies]


# --- the weekly report and the steward ---------------------------------------------------------------------


def test_an_outage_leaves_the_weekly_reports_unsent_fails_the_run_and_the_rerun_sends_them(
        cohort: Cohort, down_port: int, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    assert cohort.netflow("report", "--as-of", D) == 1

    err = capsys.readouterr().err
    assert err.startswith("netflow report: error: could not connect to SMTP server")
    assert "nothing was sent, every report stays unsent, for the rerun (3)" in err
    assert rows(cohort) == []  # a report is recorded only once it is sent
    serving = served(down_port)
    server = next(serving)
    try:
        assert cohort.netflow("report", "--as-of", D) == 0
        assert len(server.messages) == TEAMS
    finally:
        serving.close()


def test_the_stewards_weekly_report_names_the_digests_pending_and_failed(
        smtp_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    monkeypatch.setenv("NETFLOW_DATA_STEWARD", "steward@hospital.example")
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "1")
    smtp_server.reject(1, 554, "5.7.1 refused for the test")  # an attempt: failed at once (max 1)
    smtp_server.drop_connection(2)  # no attempt: stays pending; the third reconnects and goes
    assert cohort.netflow("remind", "--as-of", D) == 1
    assert [(r["status"], r["attempts"]) for r in rows(cohort)] == [("failed", 1), ("pending", 0), ("sent", 1)]

    assert cohort.netflow("report", "--as-of", D) == 0

    steward = [m for m in smtp_server.messages if m.rcpt_tos == ("steward@hospital.example",)]
    assert len(steward) == 1
    text = steward[0].message.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "2 digests not delivered" in body and "DIGESTS NOT DELIVERED" in body
    lines = [" ".join(line.split()) for line in body.splitlines()]
    assert "Waiting to be sent 1" in lines and "Failed 1" in lines
    assert "netflow outbox retry --failed" in body
    assert [s for s in patient_identifiers() if s in body] == []
