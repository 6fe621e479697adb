"""Every DAG parses, is well-behaved, and does no work at import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.dags.conftest import AIRFLOW_ENV, ROOT

DAG_IDS = ["net_fhir_export", "net_patient_import", "net_surveillance_daily", "net_weekly_report"]


def test_every_dag_file_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == DAG_IDS


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_dag_has_tags_an_owner_retries_no_catchup_and_docs(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert "netflow" in dag.tags
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.doc_md and len(dag.doc_md) > 200
    for task in dag.tasks:
        assert task.owner == "netflow"
        assert task.retries >= 1


def test_the_daily_dag_runs_weekdays_at_six(dagbag: Any) -> None:
    timetable = dagbag.dags["net_surveillance_daily"].timetable
    assert type(timetable).__name__ == "CronTriggerTimetable"
    assert timetable.expression == "0 6 * * 1-5"


def test_the_daily_task_graph(dagbag: Any) -> None:
    dag = dagbag.dags["net_surveillance_daily"]
    graph = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert graph == {"check": ["record_shard"], "record_shard": ["build", "summary"],
                     "build": ["send", "summary"], "send": ["summary"], "summary": []}
    assert set(dag.params) == {"dry_run", "as_of", "allow_future", "teams", "full"}


def test_the_send_task_retries_with_exponential_backoff(dagbag: Any) -> None:
    send = dagbag.dags["net_surveillance_daily"].get_task("send")
    assert send.retries >= 3 and send.retry_exponential_backoff


def test_dag_files_open_no_database_or_network_connection_at_import() -> None:
    script = textwrap.dedent("""
        import sys
        def guard(event, args):
            if event in ("socket.connect", "sqlite3.connect", "socket.getaddrinfo"):
                raise RuntimeError(f"parse-time I/O: {event} {args!r}")
        from airflow.dag_processing.dagbag import DagBag  # Airflow's own start-up is allowed
        sys.addaudithook(guard)
        bag = DagBag(read_dags_from_db=False) if False else DagBag()
        assert not bag.import_errors, bag.import_errors
        print(sorted(bag.dags))
    """)
    env = {**os.environ, **AIRFLOW_ENV, "NETFLOW_DATABASE_URL": "postgresql+psycopg://nobody@db.invalid/none"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "net_surveillance_daily" in done.stdout


def test_netflow_itself_never_imports_airflow() -> None:
    script = textwrap.dedent("""
        import importlib, pkgutil, sys
        import netflow
        for module in pkgutil.walk_packages(netflow.__path__, "netflow."):
            if ".migrations" not in module.name and not module.name.endswith("__main__"):
                importlib.import_module(module.name)
        leaked = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
        assert not leaked, leaked
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
