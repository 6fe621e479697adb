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

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.cohort import Cohort, make_cohort
from tests.support.db import POSTGRES_HOST, POSTGRES_PORT, _admin, postgres_available
from tests.support.smtp import SmtpTestServer, free_port

pytestmark = [pytest.mark.scaleout, pytest.mark.postgres, pytest.mark.timeout(480)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAG_ID = "net_surveillance_daily"
D = "2026-12-01"
WORKERS = ("netflow-w1", "netflow-w2")
REDIS_DB = int(os.environ.get("NETFLOW_SCALEOUT_REDIS_DB", "15"))
START_WAIT = 180  # seconds for the API server, the parsed DAG and both workers
RUN_WAIT = 180  # seconds for one DAG run


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]
    metadata: str  # the libpq conninfo of Airflow's metadata database
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str, **extra_env: str) -> None:
        log = (self.home / "logs-cluster" / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen([str(BIN / "airflow"), *args], env={**self.env, **extra_env},
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self, name: str) -> str:
        return (self.home / "logs-cluster" / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """TERM to every process group, up to 15 s, then KILL: nothing outlives the test."""
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGKILL)  # the group: the worker's pool and task processes too
            proc.wait(timeout=10)

    def airflow(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    def query(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.metadata, autocommit=True) as conn:
            return list(conn.execute(statement, params).fetchall())  # type: ignore[arg-type]

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
            if dead:
                pytest.fail(f"{', '.join(dead)} stopped while waiting for {what}:\n{self.log(dead[0])[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout:.0f}s; logs in {self.home / 'logs-cluster'}")
            time.sleep(1)

    def run_dag(self, run_id: str, conf: dict[str, Any]) -> str:
        self.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps(conf))

        def finished() -> bool:
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
            return bool(rows) and rows[0][0] in ("success", "failed")

        self.wait_for(f"end of run {run_id}", finished, RUN_WAIT)
        state: str = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)[0][0]
        if state != "success":
            tis = self.query("SELECT task_id, map_index, state, hostname FROM task_instance "
                             "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index", DAG_ID, run_id)
            pytest.fail(f"run {run_id} ended {state}: {tis}\n" + self.log("scheduler")[-3000:])
        return state

    def xcom(self, run_id: str, task_id: str) -> Any:
        rows = self.query("SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s "
                          "AND key = 'return_value'", DAG_ID, run_id, task_id)
        assert len(rows) == 1
        value = rows[0][0]
        return json.loads(value) if isinstance(value, str | bytes) else value


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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
    from cryptography.fernet import Fernet

    home = tmp_path / "airflow"
    (home / "logs-cluster").mkdir(parents=True)
    api_port = free_port()
    pg = f"postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{metadata_db}"
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NETFLOW_", "_AIRFLOW"))}
    env = {
        **keep,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # no scheduled run of the daily DAG (unpaused, it would run the last 06:00 tick at once): triggered only
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{pg}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg_async://{pg}",
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg://{pg}",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "netflow_airflow.worker_hostname",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW_CONN_SMTP_DEFAULT": f"smtp://127.0.0.1:{smtp_server.port}?disable_ssl=true&disable_tls=true"
                                     "&from_email=netflow%40hospital.example",
        "NETFLOW_DATABASE_URL": patients.url,
        "NETFLOW_SMTP_URL": "smtp://127.0.0.1:1",
        "NETFLOW_MAIL_FROM": "netflow@hospital.example",
        "NETFLOW_WORKLIST_URL": "https://netflow.hospital.example/worklist",
        "NETFLOW_SHARDS": "4",
    }
    cluster = Cluster(home, env, f"host={POSTGRES_HOST} port={POSTGRES_PORT} user=postgres dbname={metadata_db}")
    try:
        cluster.airflow("db", "migrate")
        cluster.start("api-server", "api-server", "--port", str(api_port))
        cluster.start("dag-processor", "dag-processor")
        cluster.start("scheduler", "scheduler")
        log_ports = [free_port() for _ in WORKERS]
        for name, log_port in zip(WORKERS, log_ports, strict=True):
            # one task at a time per worker: four shards must spread over both; a log server port each
            cluster.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1",
                          NETFLOW_WORKER_HOSTNAME=name, AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(log_port))

        def api_up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v2/monitor/health", timeout=3):
                    return True
            except OSError:
                return False

        cluster.wait_for("API server", api_up, START_WAIT)
        cluster.wait_for("parsed DAG", lambda: bool(cluster.query(
            "SELECT 1 FROM dag WHERE dag_id = %s AND NOT is_paused", DAG_ID)), START_WAIT)
        cluster.wait_for("ready workers", lambda: all(
            f"{name}@" in cluster.log(name) and " ready." in cluster.log(name) for name in WORKERS), START_WAIT)
        cluster.wait_for("both workers' log servers", lambda: all(map(_listening, log_ports)), START_WAIT)
        cluster.wait_for("both workers answering on the broker", lambda: _consuming(broker) >= set(WORKERS),
                         START_WAIT)  # "ready." in the log comes before a worker takes tasks from the queue
        yield cluster
    finally:
        cluster.stop()


def _consuming(broker: str) -> set[str]:
    """The workers that answer a Celery ping on the broker (they take tasks from the queue).

    Asked through the `celery` command in a process of its own: a Celery app in the test process would leave
    kombu's connection pool and its after-fork hook behind, which hangs any later forked process."""
    done = subprocess.run([str(BIN / "celery"), "--broker", broker, "inspect", "ping", "--timeout", "1", "--json"],
                          capture_output=True, text=True, timeout=30)
    try:
        replies = json.loads(done.stdout or "{}")
    except ValueError:
        return set()
    return {name.split("@")[0] for name in replies} if isinstance(replies, dict) else set()


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
