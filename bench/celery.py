"""The daily DAG on a real CeleryExecutor cluster with 1, 2 and 4 workers (issue 17).

For each worker count: a cluster on this machine (tests/support/cluster.py: api-server, dag-processor,
scheduler, N `airflow celery worker`s with one task slot each, Airflow's metadata in a PostgreSQL database
of its own, Redis as the broker), the ledger emptied, one triggered run of `net_surveillance_daily` with
NETFLOW_SHARDS=4 over the loaded patient database, timed from the run's start to its end as Airflow
records it. The cluster's start-up (about half a minute) is not counted.

    python bench/run.py --backends postgresql --sizes 100000 --celery-workers 1,2,4
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from bench.cohorts import POSTGRES_ADMIN, Database
from bench.report import Figure, Results

__all__ = ["celery_figures"]

SHARDS = 4
REDIS_DB = int(os.environ.get("NETFLOW_BENCH_REDIS_DB", "14"))


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(statement)


def _flush_redis() -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def celery_figures(db: Database, size: int, counts: list[int], as_of: str, smtp_port: int,
                   reset_ledger: Callable[[Database], None], results: Results) -> None:
    """Add one figure per worker count: the daily run's wall time, with the recording shards' task time."""
    from tests.support.cluster import ClusterError, celery_cluster

    for workers in counts:
        print(f"scale-out on Celery: {size:,} patients, {db.backend}, {workers} worker(s), "
              f"NETFLOW_SHARDS={SHARDS}", flush=True)
        metadata = f"netflow_bench_airflow_{uuid.uuid4().hex[:10]}"
        _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(metadata)))
        _flush_redis()
        reset_ledger(db)
        env = {
            "AIRFLOW_CONN_SMTP_DEFAULT": f"smtp://127.0.0.1:{smtp_port}?disable_ssl=true&disable_tls=true"
                                         "&from_email=netflow%40hospital.example",
            "NETFLOW_DATABASE_URL": db.url,
            "NETFLOW_MAIL_FROM": "netflow@hospital.example",
            "NETFLOW_WORKLIST_URL": "https://netflow.hospital.example/netflow/",
            "NETFLOW_SHARDS": str(SHARDS),
        }
        label = f"daily DAG on Celery, {workers} worker(s)"
        try:
            with tempfile.TemporaryDirectory(prefix="netflow-bench-celery-") as home, \
                    celery_cluster(Path(home), metadata_db=metadata, broker=f"redis://127.0.0.1:6379/{REDIS_DB}",
                                   env=env, workers=workers) as cluster:
                cluster.run_dag("bench-celery", {"as_of": as_of}, timeout=1800)
                seconds = cluster.task_seconds("bench-celery")
                summary = cluster.xcom("bench-celery", "summary")
                hosts = cluster.query("SELECT count(DISTINCT hostname) FROM task_instance "
                                      "WHERE task_id = 'record_shard'")[0][0]
            results.add(Figure(label, seconds["run"], "s", size, db.backend, runs=[seconds["run"]],
                               note=f"record_shard x{SHARDS}: {seconds.get('record_shard', 0):.1f} s of task time "
                                    f"on {hosts} worker(s); build {seconds.get('build', 0):.1f} s, send "
                                    f"{seconds.get('send', 0):.1f} s; {summary['evaluated']:,} evaluated, "
                                    f"{summary['sent']} sent"))
        except ClusterError as error:
            print(f"  {label}: {str(error).splitlines()[0]}", flush=True)
            results.add(Figure(label, float("nan"), "s", size, db.backend, note="did not finish (see the bench log)"))
        finally:
            _flush_redis()
            _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(metadata)))
