"""Airflow for the DAG tests: a throwaway AIRFLOW_HOME with a migrated SQLite metadata database.

The environment is set here, before anything imports Airflow, and only for this folder's tests.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="netflow-airflow-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "NETFLOW_OPS_EMAIL": "ops@hospital.example",  # read when the DAG files are parsed
}
os.environ.update(AIRFLOW_ENV)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (dag.test() needs one)."""
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "db", "migrate"], env={**os.environ, **AIRFLOW_ENV},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag()


@pytest.fixture(autouse=True)
def fresh_params(request: pytest.FixtureRequest) -> Iterator[None]:
    """dag.test(run_conf=...) merges the run's conf into the tasks' params in place, and the session's DagBag
    keeps them: a dry run would make every later run in the session a dry run. Each test starts from the
    params the DAG files declare (a real scheduler parses the files afresh for every task)."""
    if "dagbag" not in request.fixturenames:
        yield
        return
    bag = request.getfixturevalue("dagbag")
    saved = {(d.dag_id, t.task_id): copy.deepcopy(t.params) for d in bag.dags.values() for t in d.tasks}
    dag_params = {d.dag_id: copy.deepcopy(d.params) for d in bag.dags.values()}
    yield
    for dag in bag.dags.values():
        dag.params = dag_params[dag.dag_id]
        for t in dag.tasks:
            t.params = saved[(dag.dag_id, t.task_id)]


@pytest.fixture
def no_retries(dagbag: Any) -> Iterator[None]:
    """dag.test() waits out real retry delays: no retries while a test runs."""
    saved = {(d.dag_id, t.task_id): t.retries for d in dagbag.dags.values() for t in d.tasks}
    for dag in dagbag.dags.values():
        for t in dag.tasks:
            t.retries = 0
    yield
    for dag in dagbag.dags.values():
        for t in dag.tasks:
            t.retries = saved[(dag.dag_id, t.task_id)]


@pytest.fixture
def cohort(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: Any,
           no_retries: None) -> Any:
    """The test cohort in a SQLite patient database, mail through the Airflow connection to `smtp_server`."""
    from tests.support.cohort import make_cohort

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT",
                       f"smtp://127.0.0.1:{smtp_server.port}?disable_ssl=true&disable_tls=true"
                       "&from_email=netflow%40hospital.example")
    return make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, "smtp://127.0.0.1:1")
