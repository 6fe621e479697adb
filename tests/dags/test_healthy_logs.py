"""A healthy daily run logs nothing at level error (no alarming lines for the operators to learn to ignore)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from tests.support.cohort import Cohort
from tests.support.smtp import SmtpTestServer

D = "2026-12-01"
# structlog's console and JSON renderers, and the stdlib logging format: an error line in any of them
ERROR_LINE = re.compile(r"\[(error|critical)\s*\]|\"level\":\s*\"(error|critical)\"|\b(ERROR|CRITICAL)\b")


@pytest.fixture
def shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETFLOW_SHARDS", "4")  # a mapped record_shard whose results build and summary read


@pytest.mark.usefixtures("shards")
def test_a_healthy_sharded_run_logs_no_error(dagbag: Any, cohort: Cohort, smtp_server: SmtpTestServer,
                                             caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
                                             ) -> None:
    from airflow.sdk import DagRunState

    caplog.set_level(logging.DEBUG)
    dag_run = dagbag.dags["net_surveillance_daily"].test(run_conf={"as_of": D})
    out, err = capfd.readouterr()

    assert dag_run.state == DagRunState.SUCCESS
    assert len(smtp_server.messages) == 3  # a real run: each team's digest went out
    records = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    lines = [line for line in (out + err).splitlines() if ERROR_LINE.search(line)]
    assert records == [] and lines == [], "\n".join(records + lines)
