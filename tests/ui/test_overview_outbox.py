"""The overview page tells operators about mail that is not delivered (issue 16): pending and failed counts.

A cohort reminded on 2026-12-01 with a FakeMailer that refuses the first digest (NETFLOW_MAX_ATTEMPTS=1:
failed) and loses the connection under the second (pending, no attempt counted); the third is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from netflow.adapters.mail import FakeMailer
from netflow.config import Settings
from netflow.installation import Installation
from netflow.services.daily import remind
from tests.support.cohort import make_cohort
from tests.ui.test_worklist_app import MRN, Nurse, mounted

AS_OF = "2026-12-01"


def reminded(tmp: Path, mailer: FakeMailer, expected: tuple[int, int, int]) -> Iterator[Settings]:
    """The cohort reminded through `mailer`; `expected`: (sent, failed, held) of the send step."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        make_cohort(f"sqlite:///{tmp / 'netflow.db'}", tmp, monkeypatch, "smtp://127.0.0.1:1")
        monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "1")
        settings = Settings.from_env()
        with Installation.from_settings(settings, mailer=lambda: mailer) as inst:
            result = remind(inst, date(2026, 12, 1), "cli-20261201T060000Z")
        assert (result.sent.sent, result.sent.failed, result.sent.held) == expected
        yield settings


@pytest.fixture
def troubled(tmp_path: Path) -> Iterator[Settings]:
    yield from reminded(tmp_path, FakeMailer().fail(1, text="554 refused for the test").drop(2), (1, 1, 1))


@pytest.fixture
def delivered(tmp_path: Path) -> Iterator[Settings]:
    yield from reminded(tmp_path, FakeMailer(), (3, 0, 0))


def test_the_overview_shows_pending_and_failed_messages(troubled: Settings) -> None:
    client: TestClient = mounted(troubled, Nurse())

    page = client.get("/netflow/api/overview", params={"as_of": AS_OF}).json()
    body = client.get("/netflow/overview", params={"as_of": AS_OF}).text

    assert (page["pending_messages"], page["failed_messages"]) == (1, 1)
    assert '<section class="card outbox failed"' in body and '>Emails not delivered</h2>' in body
    assert "<strong>1</strong> message waits to be sent" in body
    assert "message failed: the mail server refused it too often" in body
    assert "<code>netflow outbox retry --failed</code>" in body and "<code>netflow outbox list</code>" in body
    assert not MRN.search(body)


def test_the_overview_says_nothing_about_mail_when_everything_was_delivered(delivered: Settings) -> None:
    client: TestClient = mounted(delivered, Nurse())

    page = client.get("/netflow/api/overview", params={"as_of": AS_OF}).json()
    body = client.get("/netflow/overview", params={"as_of": AS_OF}).text

    assert (page["pending_messages"], page["failed_messages"]) == (0, 0)
    assert "Emails not delivered" not in body
