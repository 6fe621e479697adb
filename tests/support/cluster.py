"""A real Airflow cluster on this machine: CeleryExecutor, N Celery workers, no Docker.

    with celery_cluster(home, metadata_db="netflow_x", broker="redis://127.0.0.1:6379/15",
                        env={"NETFLOW_DATABASE_URL": ..., "NETFLOW_SHARDS": "4", ...}, workers=2) as cluster:
        cluster.run_dag("run-1", {"as_of": "2026-12-01"})      # trigger and wait for its end
        cluster.xcom("run-1", "summary")

Airflow's metadata in an existing PostgreSQL database, Redis as the broker, and real processes: api-server
(the tasks talk to its execution API), dag-processor, scheduler and `airflow celery worker`s with their
own names, host names (`netflow_airflow.worker_hostname`) and log-server ports, one task at a time each.
Every process runs in a process group of its own and is killed on exit, whatever happened.

Used by the scale-out test (tests/deploy/test_scaleout.py) and the benchmark (bench/celery.py); free of
pytest, so a failure is a `ClusterError` carrying the end of the relevant log.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.support.smtp import free_port

__all__ = ["DAG_ID", "Cluster", "ClusterError", "celery_cluster", "consuming_workers"]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAG_ID = "net_surveillance_daily"
START_WAIT = 180  # seconds for the API server, the parsed DAG and the workers


class ClusterError(RuntimeError):
    """A process of the cluster stopped, or something did not happen in time."""


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]
    metadata: str  # the libpq conninfo of Airflow's metadata database
    workers: tuple[str, ...] = ()
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str, **extra_env: str) -> None:
        log = (self.home / "logs-cluster" / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen([str(BIN / "airflow"), *args], env={**self.env, **extra_env},
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self, name: str) -> str:
        return (self.home / "logs-cluster" / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """TERM to every process group, up to 15 s, then KILL: nothing outlives the cluster."""
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
        if done.returncode != 0:
            raise ClusterError(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done.stdout

    def query(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.metadata, autocommit=True) as conn:
            return list(conn.execute(statement, params).fetchall())  # type: ignore[arg-type]

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
            if dead:
                raise ClusterError(f"{', '.join(dead)} stopped while waiting for {what}:\n{self.log(dead[0])[-3000:]}")
            if time.monotonic() > deadline:
                raise ClusterError(f"no {what} within {timeout:.0f}s; logs in {self.home / 'logs-cluster'}")
            time.sleep(0.5)

    def run_dag(self, run_id: str, conf: dict[str, Any], timeout: float = 180) -> None:
        """Trigger the daily DAG and wait for the run's end; a run that does not succeed is a ClusterError."""
        self.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps(conf))

        def finished() -> bool:
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
            return bool(rows) and rows[0][0] in ("success", "failed")

        self.wait_for(f"end of run {run_id}", finished, timeout)
        state = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)[0][0]
        if state != "success":
            tis = self.query("SELECT task_id, map_index, state, hostname FROM task_instance "
                             "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index", DAG_ID, run_id)
            raise ClusterError(f"run {run_id} ended {state}: {tis}\n" + self.log("scheduler")[-3000:])

    def xcom(self, run_id: str, task_id: str) -> Any:
        rows = self.query("SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s "
                          "AND key = 'return_value'", DAG_ID, run_id, task_id)
        if len(rows) != 1:
            raise ClusterError(f"run {run_id}: {len(rows)} return values of {task_id}")
        value = rows[0][0]
        return json.loads(value) if isinstance(value, str | bytes) else value

    def task_seconds(self, run_id: str) -> dict[str, float]:
        """Each task's run time in the run (mapped tasks: the sum of their instances), and the run's wall time."""
        rows = self.query("SELECT task_id, sum(extract(epoch FROM end_date - start_date)) FROM task_instance "
                          "WHERE dag_id = %s AND run_id = %s GROUP BY task_id", DAG_ID, run_id)
        [(wall,)] = self.query("SELECT extract(epoch FROM end_date - start_date) FROM dag_run "
                               "WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
        return {**{task: float(seconds or 0) for task, seconds in rows}, "run": float(wall)}


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def consuming_workers(broker: str) -> set[str]:
    """The workers that answer a Celery ping on the broker (they take tasks from the queue).

    Asked through the `celery` command in a process of its own: a Celery app in this process would leave
    kombu's connection pool and its after-fork hook behind, which hangs any later forked process."""
    done = subprocess.run([str(BIN / "celery"), "--broker", broker, "inspect", "ping", "--timeout", "1", "--json"],
                          capture_output=True, text=True, timeout=30)
    try:
        replies = json.loads(done.stdout or "{}")
    except ValueError:
        return set()
    return {name.split("@")[0] for name in replies} if isinstance(replies, dict) else set()


def _environment(home: Path, pg: str, broker: str, api_port: int, env: Mapping[str, str]) -> dict[str, str]:
    from cryptography.fernet import Fernet

    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NETFLOW_", "_AIRFLOW"))}
    return {
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
        **env,
    }


@contextlib.contextmanager
def celery_cluster(home: Path, *, metadata_db: str, broker: str, env: Mapping[str, str], workers: int,
                   pg_host: str = "127.0.0.1", pg_port: int = 5432) -> Iterator[Cluster]:
    """A started cluster with `workers` Celery workers (netflow-w1, netflow-w2, ...), each ready on the broker."""
    (home / "logs-cluster").mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    pg = f"postgres@{pg_host}:{pg_port}/{metadata_db}"
    names = tuple(f"netflow-w{n}" for n in range(1, workers + 1))
    cluster = Cluster(home, _environment(home, pg, broker, api_port, env),
                      f"host={pg_host} port={pg_port} user=postgres dbname={metadata_db}", names)
    try:
        cluster.airflow("db", "migrate")
        cluster.start("api-server", "api-server", "--port", str(api_port))
        cluster.start("dag-processor", "dag-processor")
        cluster.start("scheduler", "scheduler")
        log_ports = [free_port() for _ in names]
        for name, log_port in zip(names, log_ports, strict=True):
            # one task at a time per worker: the shards spread over the workers; a log server port each
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
            f"{name}@" in cluster.log(name) and " ready." in cluster.log(name) for name in names), START_WAIT)
        cluster.wait_for("the workers' log servers", lambda: all(map(_listening, log_ports)), START_WAIT)
        cluster.wait_for("every worker answering on the broker", lambda: consuming_workers(broker) >= set(names),
                         START_WAIT)  # "ready." in the log comes before a worker takes tasks from the queue
        yield cluster
    finally:
        cluster.stop()
