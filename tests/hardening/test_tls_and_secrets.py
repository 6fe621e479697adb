"""SMTP transport security and credentials: TLS verified against the server's own CA, verification on
by default, plain SMTP only to this machine, and the SMTP password printed by no command, ever."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from netflow.cli import main
from tests.hardening.conftest import read_ledger
from tests.support.cohort import Cohort, make_cohort
from tests.support.smtp import TEST_PASSWORD, TEST_USER, SmtpTestServer, free_port

D = "2026-12-01"
WRONG_PASSWORD = "Wr0ng-Pa55:zq/81%x"


def secrets_in(text: str) -> list[str]:
    forms = {p: {p, quote(p, safe=""), quote(p)} for p in (TEST_PASSWORD, WRONG_PASSWORD)}
    return sorted(p for p, variants in forms.items() if any(v in text for v in variants))


def tls_cohort(server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cohort:
    return make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, server.url)


@pytest.mark.parametrize("server_fixture", ["starttls_server", "smtps_server"])
def test_tls_with_the_servers_own_ca_delivers_each_digest_encrypted_and_logged_in(
        server_fixture: str, request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    server: SmtpTestServer = request.getfixturevalue(server_fixture)
    cohort = tls_cohort(server, tmp_path, monkeypatch)
    assert server.ca_file is not None
    monkeypatch.setenv("NETFLOW_SMTP_CA_FILE", server.ca_file)

    assert cohort.netflow("remind", "--as-of", D) == 0

    assert [(m.tls, m.authenticated) for m in server.messages] == [(True, True)] * 3
    assert cohort.outbox("sent") == 3


@pytest.mark.parametrize("server_fixture", ["starttls_server", "smtps_server"])
def test_without_the_ca_file_the_certificate_is_refused_clearly_and_nothing_is_marked_sent(
        server_fixture: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    server: SmtpTestServer = request.getfixturevalue(server_fixture)
    cohort = tls_cohort(server, tmp_path, monkeypatch)
    monkeypatch.delenv("NETFLOW_SMTP_CA_FILE", raising=False)

    assert cohort.netflow("remind", "--as-of", D) == 1

    out = capsys.readouterr().out
    assert "sent: 0, retrying: 3, failed: 0" in out
    assert "certificate of SMTP server" in out and "could not be verified" in out and "NETFLOW_SMTP_CA_FILE" in out
    assert server.messages == []
    ledger = read_ledger(cohort.url)
    assert [row["status"] for row in ledger.outbox] == ["pending"] * 3
    assert all("could not be verified" in row["last_error"] for row in ledger.outbox)


def test_plain_smtp_to_another_machine_is_refused_before_anything_is_recorded(
        smtp_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    monkeypatch.setenv("NETFLOW_SMTP_URL", "smtp://192.0.2.1:25")  # TEST-NET-1: never a real host

    assert cohort.netflow("remind", "--as-of", D) == 2

    assert "plain smtp:// to 192.0.2.1" in capsys.readouterr().err
    assert (cohort.events(), cohort.outbox()) == (0, 0)
    monkeypatch.setenv("NETFLOW_SMTP_ALLOW_INSECURE", "true")
    monkeypatch.setenv("NETFLOW_SMTP_TIMEOUT", "1")
    assert cohort.netflow("remind", "--as-of", D) == 1  # allowed now: it tries, and the host does not answer
    assert "could not connect to SMTP server 192.0.2.1:25" in capsys.readouterr().out
    assert cohort.outbox("pending") == 3


HELP = [[], ["evaluate"], ["db"], ["db", "upgrade"], ["import"], ["teams"], ["teams", "load"], ["scan"], ["remind"],
        ["mailcatcher"], ["report"], ["demo-data"]]


def test_no_command_ever_prints_or_logs_the_smtp_password(
        starttls_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert starttls_server.ca_file is not None
    monkeypatch.setenv("NETFLOW_SMTP_CA_FILE", starttls_server.ca_file)
    wrong = f"smtp+starttls://{TEST_USER}:{quote(WRONG_PASSWORD, safe='')}@127.0.0.1:{starttls_server.port}"
    down = f"smtps://{TEST_USER}:{quote(TEST_PASSWORD, safe='')}@127.0.0.1:{free_port()}"
    unencrypted = f"smtp://{TEST_USER}:{quote(TEST_PASSWORD, safe='')}@mail.hospital.example:25"
    cohort = tls_cohort(starttls_server, tmp_path, monkeypatch)
    steps: list[tuple[str, list[str], int]] = [(starttls_server.url, ["--help"] if not h else [*h, "--help"], 0)
                                               for h in HELP]
    steps += [
        (wrong, ["remind", "--as-of", D], 1),                   # the server refuses the login
        (down, ["remind", "--as-of", D], 1),                    # nothing listens
        (unencrypted, ["remind", "--as-of", D], 2),             # the password would travel in clear
        ("smtps://netflow:p%ZZ@[::1", ["remind", "--as-of", D], 2),  # not a URL at all
        (starttls_server.url, ["remind", "--as-of", D], 0),     # delivered
        (starttls_server.url, ["scan", "--as-of", D], 0),
        (starttls_server.url, ["report", "--as-of", D], 0),
        (starttls_server.url, ["teams", "load", str(tmp_path / "teams.yaml")], 0),
        (starttls_server.url, ["db", "upgrade"], 0),
        (starttls_server.url, ["import", str(tmp_path / "patients.jsonl")], 0),
        (starttls_server.url, ["demo-data", "--patients", "5", "--out", str(tmp_path / "demo.jsonl")], 0),
    ]
    capfd.readouterr()
    for url, args, expected in steps:
        monkeypatch.setenv("NETFLOW_SMTP_URL", url)
        try:
            status = main(args)
        except SystemExit as exc:  # --help
            status = int(exc.code or 0)
        out, err = capfd.readouterr()
        assert status == expected, (args, out, err)
        assert secrets_in(out + err) == [], (args, out, err)
    assert secrets_in("\n".join(r.getMessage() for r in caplog.records)) == []
    assert (cohort.outbox("pending"), cohort.outbox("failed")) == (0, 0)  # the digests, then the weekly reports
