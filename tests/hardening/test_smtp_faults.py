"""`netflow remind` against an SMTP server that misbehaves in every way a relay does.

Each case ends the same way: after reruns every team's digest is at the server exactly once (by
Message-ID; a second copy only where the server's acceptance never reached netflow), or marked
failed with its error, and nothing is marked sent that the server did not accept.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.hardening.conftest import (
    CueHandler,
    Ledger,
    assert_each_team_delivered_once,
    read_ledger,
    received_ids,
)
from tests.support.cohort import Cohort, make_cohort
from tests.support.smtp import SmtpTestServer, _serve, free_port

D = "2026-12-01"
TEAMS = 3  # the cohort of tests/support/cohort.py: three teams, each with new events on D


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow_smtp: SmtpTestServer) -> Cohort:
    return make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, slow_smtp.url)


def assert_sent_only_if_accepted(ledger: Ledger, *servers: SmtpTestServer) -> None:
    accepted = set().union(*(received_ids(s) for s in servers))
    assert {row["message_id"] for row in ledger.outbox if row["status"] == "sent"} <= accepted


def statuses(ledger: Ledger) -> list[str]:
    return [row["status"] for row in ledger.outbox]


def test_a_server_refusing_connections_marks_nothing_sent_and_the_rerun_delivers_each_digest_once(
        cohort: Cohort, slow_smtp: SmtpTestServer, dead_smtp_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_SMTP_URL", dead_smtp_url)

    assert cohort.netflow("remind", "--as-of", D) == 1

    down = read_ledger(cohort.url)
    assert statuses(down) == ["pending"] * TEAMS
    # issue 16: a server that cannot be reached is not an attempt at any message (it was 1 attempt each)
    assert all(row["attempts"] == 0 and "could not connect" in row["last_error"] for row in down.outbox)
    printed = capsys.readouterr()
    assert "sent: 0, retrying: 3, failed: 0" in printed.out
    assert "nothing was sent, every message stays pending" in printed.err
    monkeypatch.setenv("NETFLOW_SMTP_URL", slow_smtp.url)
    assert cohort.netflow("remind", "--as-of", D) == 0
    assert assert_each_team_delivered_once(read_ledger(cohort.url), slow_smtp) == 0


def test_a_connection_dropped_mid_batch_loses_only_that_message_until_the_rerun(
        cohort: Cohort, slow_smtp: SmtpTestServer) -> None:
    slow_smtp.drop_connection(2)

    assert cohort.netflow("remind", "--as-of", D) == 1

    dropped = read_ledger(cohort.url)
    assert statuses(dropped) == ["sent", "pending", "sent"]
    assert "was lost while sending" in dropped.outbox[1]["last_error"]
    assert dropped.outbox[1]["attempts"] == 0  # a lost connection is not an answer to the message
    assert_sent_only_if_accepted(dropped, slow_smtp)
    assert cohort.netflow("remind", "--as-of", D) == 0
    assert assert_each_team_delivered_once(read_ledger(cohort.url), slow_smtp) == 0


def test_a_4xx_answer_is_retried_by_the_next_run_with_the_same_message_id(
        cohort: Cohort, slow_smtp: SmtpTestServer) -> None:
    slow_smtp.reject(1, 451, "4.3.0 greylisted, try again later")

    assert cohort.netflow("remind", "--as-of", D) == 1

    first = read_ledger(cohort.url)
    assert statuses(first) == ["pending", "sent", "sent"] and "451" in first.outbox[0]["last_error"]
    assert cohort.netflow("remind", "--as-of", D) == 0
    again = read_ledger(cohort.url)
    assert again.outbox[0]["message_id"] == first.outbox[0]["message_id"]
    assert again.outbox[0]["attempts"] == 2
    assert assert_each_team_delivered_once(again, slow_smtp) == 0


def test_a_5xx_answer_is_retried_until_max_attempts_then_failed_with_its_error(
        cohort: Cohort, slow_smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "2")
    slow_smtp.reject_all(554, "5.7.1 relay policy refuses it")

    assert cohort.netflow("remind", "--as-of", D) == 1
    assert statuses(read_ledger(cohort.url)) == ["pending"] * TEAMS
    assert cohort.netflow("remind", "--as-of", D) == 1

    failed = read_ledger(cohort.url)
    assert statuses(failed) == ["failed"] * TEAMS
    assert all(row["attempts"] == 2 and "554 5.7.1 relay policy" in row["last_error"] for row in failed.outbox)
    assert slow_smtp.messages == []
    assert "failed: 3" in capsys.readouterr().out
    slow_smtp.handler.refuse_every = None
    assert cohort.netflow("remind", "--as-of", D) == 0  # a failed message stays failed: nothing is resent
    assert slow_smtp.messages == [] and failed.unassigned == 0


def test_a_passing_5xx_is_delivered_by_the_rerun(cohort: Cohort, slow_smtp: SmtpTestServer) -> None:
    slow_smtp.reject(3, 550, "5.2.0 mailbox busy, a relay's passing policy")

    assert cohort.netflow("remind", "--as-of", D) == 1
    assert cohort.netflow("remind", "--as-of", D) == 0

    assert assert_each_team_delivered_once(read_ledger(cohort.url), slow_smtp) == 0


def test_a_server_accepting_after_the_timeout_gets_that_message_again_with_the_same_message_id(
        cohort: Cohort, slow_smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server keeps message 1 but answers after NETFLOW_SMTP_TIMEOUT: netflow cannot know it was
    accepted, so it is not marked sent and the rerun sends it again. Only this lost acknowledgement
    makes a second copy, and the copy has the same Message-ID, so mail systems drop it."""
    monkeypatch.setenv("NETFLOW_SMTP_TIMEOUT", "1")
    handler = slow_smtp.handler
    assert isinstance(handler, CueHandler)
    handler.delay, handler.slow_first = 1.6, 1

    assert cohort.netflow("remind", "--as-of", D) == 1

    timed_out = read_ledger(cohort.url)
    assert statuses(timed_out) == ["pending", "sent", "sent"]
    assert "timed out" in timed_out.outbox[0]["last_error"]
    assert_sent_only_if_accepted(timed_out, slow_smtp)
    assert cohort.netflow("remind", "--as-of", D) == 0
    lost = frozenset({timed_out.outbox[0]["message_id"]})
    assert assert_each_team_delivered_once(read_ledger(cohort.url), slow_smtp, lost_acks=lost) == 1


def test_a_server_that_dies_mid_run_fails_the_rest_fast_and_a_new_server_gets_only_those(
        cohort: Cohort, slow_smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    handler = slow_smtp.handler
    assert isinstance(handler, CueHandler)
    stopping = threading.Thread(target=slow_smtp.stop)
    handler.hang, handler.on_data = {2}, lambda n: stopping.start() if n == 2 else None

    assert cohort.netflow("remind", "--as-of", D) == 1
    stopping.join()

    half = read_ledger(cohort.url)
    assert statuses(half) == ["sent", "pending", "pending"]
    assert "retrying: 2" in capsys.readouterr().out
    replacement = SmtpTestServer(free_port(), CueHandler())
    serving = _serve(replacement)
    next(serving)
    try:
        monkeypatch.setenv("NETFLOW_SMTP_URL", replacement.url)
        assert cohort.netflow("remind", "--as-of", D) == 0
        both = SmtpTestServer(0, CueHandler(messages=[*slow_smtp.messages, *replacement.messages]))
        assert assert_each_team_delivered_once(read_ledger(cohort.url), both) == 0
        assert len(replacement.messages) == 2
    finally:
        serving.close()


def test_a_server_that_keeps_the_data_and_drops_the_connection_before_replying_gets_it_again_with_the_same_id(
        cohort: Cohort, slow_smtp: SmtpTestServer) -> None:
    """RFC 5321 section 6.1: once the server has the message it is responsible for it, but its 250 may never
    reach the client. netflow cannot tell this from a message lost in transit, so the message stays pending
    (no attempt counted) and the rerun sends it again: the server then holds two copies with one Message-ID,
    the fourth source of duplicates in RELIABILITY.md (M5 d), and no other message is doubled."""
    slow_smtp.keep_then_drop(2)

    assert cohort.netflow("remind", "--as-of", D) == 1

    dropped = read_ledger(cohort.url)
    assert statuses(dropped) == ["sent", "pending", "sent"]
    kept = dropped.outbox[1]
    assert kept["attempts"] == 0 and "was lost while sending" in kept["last_error"]
    assert received_ids(slow_smtp)[kept["message_id"]] == 1  # the server has it; netflow could not know
    assert cohort.netflow("remind", "--as-of", D) == 0
    again = read_ledger(cohort.url)
    assert again.outbox[1]["message_id"] == kept["message_id"] and again.outbox[1]["attempts"] == 1
    copies = received_ids(slow_smtp)
    assert copies == {row["message_id"]: 2 if row["id"] == kept["id"] else 1 for row in again.outbox}
    assert assert_each_team_delivered_once(again, slow_smtp, lost_acks=frozenset({kept["message_id"]})) == 1
