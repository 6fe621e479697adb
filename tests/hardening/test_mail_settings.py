"""The sender and data steward addresses come from the environment, not from a checked file: a bad
one is a configuration error before anything is recorded, never a digest that can never be sent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from netflow.config import ConfigError, Settings
from netflow.installation import Installation
from netflow.services.daily import check
from tests.support.cohort import Cohort, make_cohort
from tests.support.smtp import SmtpTestServer

D = "2026-12-01"


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> Cohort:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"patient_id": "MRN0000050", "grade": 9}\n', encoding="utf-8")
    assert cohort.netflow("import", str(bad)) == 0
    return cohort


@pytest.mark.parametrize(("variable", "value", "problem"), [
    ("NETFLOW_DATA_STEWARD", "steward at hospital", "is not a single valid email address"),
    ("NETFLOW_DATA_STEWARD", "steward@hospital.example, other@hospital.example", "not a single valid email"),
    ("NETFLOW_MAIL_FROM", "netflow@hospital.example\r\nBcc: spy@evil.example", "must be one line of text"),
    ("NETFLOW_MAIL_FROM", "netflow", "is not a single valid email address"),
], ids=["steward-not-an-address", "steward-two-addresses", "sender-header-injection", "sender-no-domain"])
def test_a_bad_sender_or_steward_address_stops_remind_before_anything_is_recorded(
        cohort: Cohort, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], variable: str, value: str, problem: str) -> None:
    monkeypatch.setenv("NETFLOW_DATA_STEWARD", "steward@hospital.example")
    monkeypatch.setenv(variable, value)

    assert cohort.netflow("remind", "--as-of", D) == 2

    err = capsys.readouterr().err
    assert f"{variable}: " in err and problem in err
    assert (cohort.events(), cohort.outbox(), smtp_server.messages) == (0, 0, [])
    with pytest.raises(ConfigError, match=variable):  # the daily DAG's first task refuses it too
        check(Installation.from_settings(Settings.from_env()), None, date(2026, 12, 1))


def test_the_steward_gets_the_quarantined_rows_once_the_address_is_fixed(
        cohort: Cohort, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETFLOW_DATA_STEWARD", "steward at hospital")
    assert cohort.netflow("remind", "--as-of", D) == 2

    monkeypatch.setenv("NETFLOW_DATA_STEWARD", "steward@hospital.example")
    assert cohort.netflow("remind", "--as-of", D) == 0

    steward = [m for m in smtp_server.messages if m.rcpt_tos == ("steward@hospital.example",)]
    assert len(steward) == 1 and "MRN0000050" in steward[0].raw.decode("utf-8", "replace")
    assert cohort.outbox("failed") == 0
