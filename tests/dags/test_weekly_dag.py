"""The weekly report DAG emails each team's leads their metrics with the chart, once per week."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.cohort import make_cohort
from tests.support.smtp import SmtpTestServer


def test_the_weekly_report_reaches_the_leads_with_its_chart_once_per_week(
        airflow_db: Path, dagbag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        smtp_server: SmtpTestServer, no_retries: None) -> None:
    from airflow.sdk import DagRunState

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT",
                       f"smtp://127.0.0.1:{smtp_server.port}?disable_ssl=true&disable_tls=true")
    make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, "smtp://127.0.0.1:1")
    dag = dagbag.dags["net_weekly_report"]

    first = dag.test(run_conf={"as_of": "2026-12-07"})
    second = dag.test(run_conf={"as_of": "2026-12-08"})

    assert first.state == second.state == DagRunState.SUCCESS
    reports = [m for m in smtp_server.messages if "weekly report" in str(m.message["Subject"])]
    assert len(reports) == 3  # one per team, not again in the same week
    east = next(m for m in reports if "GI Oncology East" in str(m.message["Subject"]))
    assert east.rcpt_tos == ("lead.east@hospital.example",)
    images = [p for p in east.message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0].get_payload(decode=True).startswith(b"\x89PNG\r\n\x1a\n")
