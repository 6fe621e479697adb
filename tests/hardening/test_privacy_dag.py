"""The daily DAG on a demo cohort of 300 patients (dag.test, real SMTP): no patient's name, MRN or birth
date in any task log file, any XCom value, the DAG run's conf, the run summary, or anything the run
printed — once on a run where a team's digest is refused (the error path) and once on a clean rerun.
The same identifiers do appear in the emails, which shows the search finds them where they belong.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from netflow.adapters.db import make_engine
from netflow.adapters.tables import runs
from tests.dags.conftest import AIRFLOW_HOME
from tests.hardening.conftest import AS_OF, DemoFiles, copy_database, identifiers
from tests.support.smtp import SmtpTestServer


def task_logs(since: float) -> str:
    """Every task log file Airflow wrote under AIRFLOW_HOME/logs since `since`."""
    files = [p for p in (AIRFLOW_HOME / "logs").rglob("*") if p.is_file() and p.stat().st_mtime >= since]
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def xcom_values(run_ids: list[str]) -> list[str]:
    """Every XCom value of these DAG runs, read from the metadata database itself."""
    with sqlite3.connect(AIRFLOW_HOME / "airflow.db") as db:
        marks = ",".join("?" * len(run_ids))
        rows = db.execute(f"SELECT task_id, key, value FROM xcom WHERE run_id IN ({marks})", run_ids).fetchall()
    return [f"{task}/{key}: {value.decode('utf-8', 'replace') if isinstance(value, bytes) else value}"
            for task, key, value in rows]


def conf_values(run_ids: list[str]) -> list[str]:
    with sqlite3.connect(AIRFLOW_HOME / "airflow.db") as db:
        marks = ",".join("?" * len(run_ids))
        rows = db.execute(f"SELECT conf FROM dag_run WHERE run_id IN ({marks})", run_ids).fetchall()
    return [str(conf) for (conf,) in rows]


def run_summaries(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [str(s) for s in conn.execute(select(runs.c.summary)).scalars()]
    finally:
        engine.dispose()


@pytest.mark.usefixtures("airflow_db", "no_retries")
def test_a_daily_run_leaves_no_name_mrn_or_birth_date_in_logs_xcom_conf_or_the_run_summary(
        dagbag: Any, demo_sqlite: Path, demo_files: DemoFiles, smtp_server: SmtpTestServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from airflow.utils.state import DagRunState

    url = copy_database(demo_sqlite, tmp_path / "db")
    monkeypatch.setenv("NETFLOW_DATABASE_URL", url)
    monkeypatch.setenv("NETFLOW_SHARDS", "2")
    monkeypatch.setenv("NETFLOW_DATA_STEWARD", "steward@hospital.example")  # quarantined rows are in play too
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{smtp_server.port}?disable_ssl=true"
                                                    "&disable_tls=true&from_email=netflow%40hospital.example")
    smtp_server.reject(2, 550, "5.7.1 refused for the test")
    dag = dagbag.dags["net_surveillance_daily"]
    started = time.time() - 1

    failing = dag.test(run_conf={"as_of": AS_OF})
    clean = dag.test(run_conf={"as_of": AS_OF})

    assert (failing.state, clean.state) == (DagRunState.FAILED, DagRunState.SUCCESS)
    printed = capfd.readouterr()
    run_ids = [failing.run_id, clean.run_id]
    places = {
        "task log files": task_logs(started),
        "XCom": "\n".join(xcom_values(run_ids)),
        "DAG run conf": "\n".join(conf_values(run_ids)),
        "run summary": "\n".join(run_summaries(url)),
        "printed output": printed.out + printed.err,
    }
    cohort = identifiers(demo_files.cohort)
    assert len(cohort.mrns) >= 250 and places["XCom"] and places["run summary"]
    logged = places["printed output"] + places["task log files"]  # dag.test() logs tasks to standard output
    assert "netflow run summary for" in logged and "not delivered" in logged  # both paths were logged
    summary = clean.get_task_instance("summary").xcom_pull(task_ids="summary")
    assert summary["sent"] >= 1 and json.dumps(summary)
    assert {place: cohort.found_in(text) for place, text in places.items()} == {place: [] for place in places}
    emails = "\n".join(m.raw.decode("utf-8", "replace") for m in smtp_server.messages)
    # The emails, and only the emails, carry them (a team's first digest lists counts and links, not its
    # backlog: the rows of the small sections and the data steward's digest still name patients).
    assert len(cohort.found_in(emails)) >= 5
