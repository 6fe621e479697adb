"""The daily DAG end to end with dag.test(): SQLite metadata, SQLite patient database, real SMTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netflow.adapters.tables import events
from tests.support.cohort import Cohort, make_cohort
from tests.support.smtp import SmtpTestServer

D = "2026-12-01"


def run(dagbag: Any, **conf: Any) -> Any:
    from airflow.sdk import DagRunState

    dag = dagbag.dags["net_surveillance_daily"]
    dag_run = dag.test(run_conf={"as_of": D, **conf})
    assert dag_run.state == DagRunState.SUCCESS
    return dag_run


def xcom(dag_run: Any, task_id: str) -> Any:
    ti = dag_run.get_task_instance(task_id)
    return ti.xcom_pull(task_ids=task_id)


def test_a_daily_run_sends_each_team_one_digest_and_publishes_its_summary(
        dagbag: Any, cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    dag_run = run(dagbag)

    assert len(smtp_server.messages) == 3
    summary = xcom(dag_run, "summary")
    assert summary["evaluated"] == 7 and summary["sent"] == 3 and summary["digests"] == 3
    assert summary["events"]["escalated"] == 1


def test_a_second_run_of_the_same_date_sends_nothing(dagbag: Any, cohort: Cohort,
                                                      smtp_server: SmtpTestServer) -> None:
    run(dagbag)
    run(dagbag)
    assert len(smtp_server.messages) == 3


def test_three_shards_record_the_same_events_as_one(dagbag: Any, cohort: Cohort, smtp_server: SmtpTestServer,
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NETFLOW_SHARDS", "3")
    run(dagbag)
    sharded = cohort.events()

    other = make_cohort(f"sqlite:///{tmp_path / 'one.db'}", tmp_path, monkeypatch, "smtp://127.0.0.1:1")
    monkeypatch.setenv("NETFLOW_SHARDS", "1")
    run(dagbag)

    assert sharded == other.events() > 0
    assert cohort.count(events, events.c.kind == "escalated") == other.count(events, events.c.kind == "escalated")


def test_a_dry_run_records_and_sends_nothing(dagbag: Any, cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    dag_run = run(dagbag, dry_run=True)
    assert (cohort.events(), cohort.outbox(), len(smtp_server.messages)) == (0, 0, 0)
    assert xcom(dag_run, "summary")["dry_run"] is True


def test_a_failed_run_alerts_the_operations_address_without_patient_data(
        airflow_db: Path, dagbag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        smtp_server: SmtpTestServer, no_retries: None) -> None:
    from airflow.sdk import DagRunState

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT",
                       f"smtp://127.0.0.1:{smtp_server.port}?disable_ssl=true&disable_tls=true"
                       "&from_email=netflow%40hospital.example")
    monkeypatch.setenv("NETFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'never-migrated.db'}")

    dag_run = dagbag.dags["net_surveillance_daily"].test(run_conf={"as_of": D})

    assert dag_run.state == DagRunState.FAILED
    alerts = [m for m in smtp_server.messages if m.rcpt_tos == ("ops@hospital.example",)]
    assert len(alerts) == 1
    assert str(alerts[0].message["Subject"]).startswith("netflow: net_surveillance_daily failed")
    body = alerts[0].message.get_body(("html", "plain"))
    assert body is not None and "MRN" not in body.get_content()


def test_a_mistyped_as_of_fails_the_check_once_and_no_shard_runs(
        dagbag: Any, cohort: Cohort, smtp_server: SmtpTestServer, no_retries: None) -> None:
    from airflow.sdk import DagRunState
    from airflow.utils.state import TaskInstanceState

    dag_run = dagbag.dags["net_surveillance_daily"].test(run_conf={"as_of": "2026-13-01"})

    assert dag_run.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert [task for task, state in states.items() if state == TaskInstanceState.FAILED] == ["check"]  # one alert
    assert states["record_shard"] in (TaskInstanceState.UPSTREAM_FAILED, None)
    assert cohort.events() == 0 and cohort.outbox() == 0
