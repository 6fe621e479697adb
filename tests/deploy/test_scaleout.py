"""Scale-out: the daily DAG on the CeleryExecutor with two real Celery workers (no Docker).

A throwaway AIRFLOW_HOME, Airflow's metadata in a PostgreSQL database created for the test (dropped after),
Redis at 127.0.0.1:6379 as the broker on a database number of its own (flushed before and after), the patient
database on PostgreSQL, and real processes: api-server (the tasks talk to its execution API), dag-processor,
scheduler and two `airflow celery worker`s with their own names, host names and log-server ports. One run with
NETFLOW_SHARDS=4 is triggered and must succeed with shards on both workers, send each team one digest and count
what a one-shard `netflow remind --dry-run` of the same data counts; a second run of the same date sends
nothing. Every process is started in a process group of its own and killed at the end, pass or fail.

About 1 to 2 minutes. Run it alone with `pytest -m scaleout`. NETFLOW_SCALEOUT_REDIS_DB picks the Redis
database (15 by default).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.support.cluster import DAG_ID, Cluster, ClusterError, celery_cluster
from tests.support.cohort import Cohort, make_cohort
from tests.support.db import POSTGRES_HOST, POSTGRES_PORT, _admin, postgres_available
from tests.support.smtp import SmtpTestServer

pytestmark = [pytest.mark.scaleout, pytest.mark.postgres, pytest.mark.timeout(480)]

BIN = Path(sys.executable).parent
D = "2026-12-01"
WORKERS = ("netflow-w1", "netflow-w2")
REDIS_DB = int(os.environ.get("NETFLOW_SCALEOUT_REDIS_DB", "15"))


def _redis(db: int) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=5)


@pytest.fixture
def metadata_db() -> Iterator[str]:
    """Airflow's metadata database on PostgreSQL, created for the test and dropped after."""
    if not postgres_available():
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_HOST}:{POSTGRES_PORT}")
    name = f"netflow_scaleout_{uuid.uuid4().hex[:12]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def broker() -> Iterator[str]:
    """Redis database REDIS_DB, empty before and after."""
    client = _redis(REDIS_DB)
    try:
        client.ping()
    except Exception as error:
        pytest.fail(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    client.flushdb()
    try:
        yield f"redis://127.0.0.1:6379/{REDIS_DB}"
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def patients(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cohort:
    return make_cohort(postgres_url, tmp_path, monkeypatch, "smtp://127.0.0.1:1")


@pytest.fixture
def cluster(tmp_path: Path, metadata_db: str, broker: str, patients: Cohort,
            smtp_server: SmtpTestServer) -> Iterator[Cluster]:
    env = {
        "AIRFLOW_CONN_SMTP_DEFAULT": f"smtp://127.0.0.1:{smtp_server.port}?disable_ssl=true&disable_tls=true"
                                     "&from_email=netflow%40hospital.example",
        "NETFLOW_DATABASE_URL": patients.url,
        "NETFLOW_SMTP_URL": "smtp://127.0.0.1:1",
        "NETFLOW_MAIL_FROM": "netflow@hospital.example",
        "NETFLOW_WORKLIST_URL": "https://netflow.hospital.example/worklist",
        "NETFLOW_SHARDS": "4",
    }
    try:
        with celery_cluster(tmp_path / "airflow", metadata_db=metadata_db, broker=broker, env=env, workers=2,
                            pg_host=POSTGRES_HOST, pg_port=POSTGRES_PORT) as started:
            yield started
    except ClusterError as error:
        pytest.fail(str(error))


def dry_run_counts(patients: Cohort) -> list[str]:
    """What a one-shard `netflow remind --dry-run` of the same data counts (the command's own output)."""
    done = subprocess.run([str(BIN / "netflow"), "remind", "--dry-run", "--as-of", D],
                          env={**os.environ, "NETFLOW_SHARDS": "1"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    events = next(line for line in lines if line.startswith("events: "))[len("events: "):]
    return [", ".join(sorted(events.split(", "))), next(line for line in lines if line.startswith("digests: ")),
            lines[0].split(" patients evaluated")[0]]


def counts_of(summary: dict[str, Any]) -> list[str]:
    """The distributed run's summary XCom, in the words of `netflow remind` (events sorted: XCom is JSONB)."""
    events = sorted(f"{n} {kind}" for kind, n in summary["events"].items()) or ["none"]
    return [", ".join(events), f"digests: {summary['digests']} team, {summary['steward_digests']} data steward",
            str(summary["evaluated"])]


def test_the_daily_run_spreads_its_shards_over_two_celery_workers(
        cluster: Cluster, patients: Cohort, smtp_server: SmtpTestServer) -> None:
    expected = dry_run_counts(patients)  # records and sends nothing
    assert patients.events() == 0

    cluster.run_dag("scaleout-1", {"as_of": D})

    shards = cluster.query("SELECT map_index, hostname, state FROM task_instance WHERE dag_id = %s AND run_id = %s "
                           "AND task_id = 'record_shard' ORDER BY map_index", DAG_ID, "scaleout-1")
    assert [(m, s) for m, _, s in shards] == [(0, "success"), (1, "success"), (2, "success"), (3, "success")]
    summary = cluster.xcom("scaleout-1", "summary")
    assert counts_of(summary) == expected
    assert summary["sent"] == 3 and summary["failed"] == 0
    recipients = sorted(tuple(sorted(m.rcpt_tos)) for m in smtp_server.messages)
    assert len(recipients) == 3 and len(set(recipients)) == 3  # each team one digest

    cluster.run_dag("scaleout-2", {"as_of": D})  # the same date again
    assert len(smtp_server.messages) == 3
    assert cluster.xcom("scaleout-2", "summary")["sent"] == 0
    # Both workers took shards. Celery hands each task to whichever worker asks first, so one run's four
    # short shards may all land on one worker; over the two runs' eight both must have taken some.
    hosts = cluster.query("SELECT DISTINCT hostname FROM task_instance WHERE dag_id = %s AND task_id = 'record_shard'",
                          DAG_ID)
    assert {host for (host,) in hosts} == set(WORKERS), (hosts, shards)
