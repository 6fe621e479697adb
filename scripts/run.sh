#!/usr/bin/env bash
# `make run`: the whole netflow demo on this machine, in the foreground. Ctrl-C stops what it started.
#
#   1. a SQLite patient database under var/ with a synthetic cohort and its care teams (once)
#   2. a local SMTP catcher that keeps every message as an .eml file under var/mail/
#   3. Airflow (api-server, scheduler, dag-processor, triggerer; SQLite metadata, LocalExecutor)
#      with the netflow DAGs unpaused, and one run of the daily DAG triggered
#
# Settings (environment): NETFLOW_UI_PORT (8080), NETFLOW_SMTP_PORT (1025), NETFLOW_DEMO_PATIENTS (3000),
# NETFLOW_API_WAIT (seconds to wait for the API server, 300), AIRFLOW__CORE__PARALLELISM (2 x CPUs, at least 2).
#
# Scale-out on this machine: `make run EXECUTOR=celery WORKERS=2` runs the CeleryExecutor with WORKERS
# `airflow celery worker` processes (each its own Celery name, host name and log-server port from
# NETFLOW_WORKER_LOG_PORT, 8793, upwards), the machine's Redis as the broker and PostgreSQL for Airflow's
# metadata (the database is created when missing; the patient database stays var/netflow.db):
#   NETFLOW_CELERY_BROKER_URL   redis://127.0.0.1:6379/0
#   NETFLOW_AIRFLOW_DB_URL      postgresql+psycopg://postgres@127.0.0.1:5432/airflow_netflow
#   NETFLOW_WORKER_CONCURRENCY  task slots per worker (2)
#   NETFLOW_SHARDS              shards of the daily run (2 x WORKERS)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VAR="$ROOT/var"
BIN="$ROOT/.venv/bin"
PORT="${NETFLOW_UI_PORT:-8080}"
SMTP_PORT="${NETFLOW_SMTP_PORT:-1025}"
PATIENTS="${NETFLOW_DEMO_PATIENTS:-3000}"
TODAY="$(date +%F)"
EXECUTOR="${EXECUTOR:-local}"
WORKERS="${WORKERS:-1}"
case "$EXECUTOR" in
  local|celery) ;;
  *) echo "netflow: EXECUTOR must be local or celery, not '$EXECUTOR'" >&2; exit 2 ;;
esac
[[ "$WORKERS" =~ ^[1-9][0-9]?$ ]] || { echo "netflow: WORKERS must be a number from 1 to 99" >&2; exit 2; }
API_WAIT="${NETFLOW_API_WAIT:-300}"
HEALTH_URL="http://localhost:$PORT/api/v2/monitor/health"

say() { printf '\033[1mnetflow:\033[0m %s\n' "$*"; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for p in "$PORT" "$SMTP_PORT"; do
  if port_busy "$p"; then
    say "port $p is already in use; stop what uses it or set NETFLOW_UI_PORT / NETFLOW_SMTP_PORT"
    exit 2
  fi
done

mkdir -p "$VAR/airflow" "$VAR/mail" "$VAR/inbox" "$VAR/demo" "$VAR/logs"
export PATH="$BIN:$PATH"
export AIRFLOW_HOME="$VAR/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# LocalExecutor keeps one worker process per slot (about 50 MB each): size the slots to the machine.
cpus="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-$(( cpus > 1 ? 2 * cpus : 2 ))}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
if [ "$EXECUTOR" = celery ]; then
  "$BIN/python" -c "import airflow.providers.celery, redis" 2>/dev/null \
    || { say "the Celery extra is not installed: make install (installs .[airflow,celery,dev])"; exit 2; }
  AIRFLOW_DB_URL="${NETFLOW_AIRFLOW_DB_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/airflow_netflow}"
  export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$AIRFLOW_DB_URL"
  # Airflow 3 also opens the metadata database asynchronously: the same database, psycopg's async driver.
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="${AIRFLOW_DB_URL/postgresql+psycopg:/postgresql+psycopg_async:}"
  export AIRFLOW__CELERY__BROKER_URL="${NETFLOW_CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}"
  export AIRFLOW__CELERY__RESULT_BACKEND="db+$AIRFLOW_DB_URL"
  export AIRFLOW__CELERY__WORKER_CONCURRENCY="${NETFLOW_WORKER_CONCURRENCY:-2}"
  # each worker's task instances record its own name (NETFLOW_WORKER_HOSTNAME), shown in the UI
  export AIRFLOW__CORE__HOSTNAME_CALLABLE=netflow_airflow.worker_hostname
  export NETFLOW_SHARDS="${NETFLOW_SHARDS:-$(( 2 * WORKERS ))}"
  WORKER_LOG_PORT="${NETFLOW_WORKER_LOG_PORT:-8793}"
  for i in $(seq 1 "$WORKERS"); do
    p=$(( WORKER_LOG_PORT + i - 1 ))
    if port_busy "$p"; then say "port $p (worker $i's log server) is in use; set NETFLOW_WORKER_LOG_PORT"; exit 2; fi
  done
  "$BIN/python" - "$AIRFLOW_DB_URL" "$AIRFLOW__CELERY__BROKER_URL" <<'PY' || exit 2
import sys

import psycopg
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

db, broker = make_url(sys.argv[1]), sys.argv[2]
admin = dict(host=db.host or "127.0.0.1", port=db.port or 5432, user=db.username or "postgres",
             password=db.password, dbname="postgres", connect_timeout=5)
try:
    with psycopg.connect(**{k: v for k, v in admin.items() if v is not None}, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.database,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.database)))
            print(f"netflow: created the Airflow metadata database {db.database}")
except psycopg.Error as error:
    sys.exit(f"netflow: PostgreSQL for Airflow's metadata ({db.render_as_string(hide_password=True)}): {error}"
             " (set NETFLOW_AIRFLOW_DB_URL)")
try:
    redis.Redis.from_url(broker, socket_timeout=5).ping()
except redis.RedisError as error:
    sys.exit(f"netflow: the Celery broker {broker}: {error} (set NETFLOW_CELERY_BROKER_URL)")
PY
else
  export AIRFLOW__CORE__EXECUTOR=LocalExecutor
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
fi
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://localhost:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:$PORT/execution/"
# admin sees every care team; nurse (role USER) sees the team whose `members` list her (netflow/demo/teams.py)
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,nurse:user"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
[ -f "$AIRFLOW_HOME/jwt_secret" ] || "$BIN/python" -c "import secrets; print(secrets.token_hex(32))" > "$AIRFLOW_HOME/jwt_secret"
export AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$AIRFLOW_HOME/jwt_secret")"
[ -f "$AIRFLOW_HOME/passwords.json" ] && grep -q '"nurse"' "$AIRFLOW_HOME/passwords.json" \
  || echo '{"admin": "admin", "nurse": "nurse"}' > "$AIRFLOW_HOME/passwords.json"
export AIRFLOW_CONN_SMTP_DEFAULT="smtp://127.0.0.1:$SMTP_PORT?disable_ssl=true&disable_tls=true&from_email=netflow%40hospital.example"

export NETFLOW_DATABASE_URL="sqlite:///$VAR/netflow.db"
export NETFLOW_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
export NETFLOW_MAIL_FROM="netflow@hospital.example"
export NETFLOW_DATA_STEWARD="data.steward@hospital.example"
export NETFLOW_OPS_EMAIL="ops@hospital.example"
export NETFLOW_INBOX="$VAR/inbox"
export NETFLOW_WORKLIST_URL="http://localhost:$PORT/netflow/"
export NETFLOW_TIMEZONE="${NETFLOW_TIMEZONE:-UTC}"

if [ ! -f "$VAR/netflow.db" ]; then
  say "creating the patient database with $PATIENTS synthetic patients (as of $TODAY)"
  netflow db upgrade
  netflow demo-data --patients "$PATIENTS" --seed 42 --as-of "$TODAY" \
    --out "$VAR/demo/patients.jsonl" --teams-out "$VAR/demo/teams.yaml"
  netflow teams load "$VAR/demo/teams.yaml"
  netflow import "$VAR/demo/patients.jsonl"
else
  netflow db upgrade >/dev/null
  say "using the existing patient database var/netflow.db (delete var/ to start afresh)"
fi

say "migrating the Airflow metadata database"
airflow db migrate > "$VAR/logs/airflow-db-migrate.log" 2>&1

PIDS=()
start() {  # start NAME CMD...: in its own process group, output to var/logs/NAME.log
  local name="$1"; shift
  setsid "$@" > "$VAR/logs/$name.log" 2>&1 &
  PIDS+=("$!")
}
running() {  # is any process of the groups this command started still there?
  local pid
  for pid in "${PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && return 0; done
  return 1
}
stop() {  # TERM to every group started, up to 10 s to finish, then KILL
  trap '' INT TERM  # a second Ctrl-C (or make and timeout passing the signal on) must not cut this short
  trap - EXIT
  say "stopping everything this command started"
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do running || break; sleep 0.5; done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit "${1:-0}"
}
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop $?' EXIT

healthy() { curl -fsS --max-time 5 -o /dev/null "$HEALTH_URL" 2>/dev/null; }
wait_for_api() {  # until the API server answers its health check; exit 1 if it stops or takes too long
  local api_pid="$1" started="$SECONDS"
  say "waiting for the Airflow API server ($HEALTH_URL, up to ${API_WAIT}s)"
  until healthy; do
    if ! kill -0 "$api_pid" 2>/dev/null; then
      say "the API server stopped while starting: see $VAR/logs/api-server.log"; tail -n 5 "$VAR/logs/api-server.log" >&2
      exit 1
    fi
    if (( SECONDS - started >= API_WAIT )); then
      say "the API server did not answer within ${API_WAIT}s (set NETFLOW_API_WAIT to wait longer): see $VAR/logs/api-server.log"
      exit 1
    fi
    sleep 1
  done
  say "the API server answered after $(( SECONDS - started ))s"
}

if [ "$EXECUTOR" = celery ]; then
  say "starting Airflow (CeleryExecutor, $WORKERS worker(s) x $AIRFLOW__CELERY__WORKER_CONCURRENCY slots, $NETFLOW_SHARDS shards)"
else
  say "starting Airflow (LocalExecutor, parallelism $AIRFLOW__CORE__PARALLELISM on $cpus CPU(s))"
fi
start mailcatcher netflow mailcatcher --port "$SMTP_PORT" --dir "$VAR/mail"
start api-server airflow api-server --port "$PORT"
API_PID="${PIDS[-1]}"
start dag-processor airflow dag-processor   # parses the DAGs while the API server starts
# The scheduler and the triggerer start once the API server answers: tasks talk to it from their first
# second, and a task started before it is up fails with a read timeout and is retried.
wait_for_api "$API_PID"
start scheduler airflow scheduler
start triggerer airflow triggerer
WORKER_INFO=""
if [ "$EXECUTOR" = celery ]; then
  for i in $(seq 1 "$WORKERS"); do
    p=$(( WORKER_LOG_PORT + i - 1 ))
    # own Celery name, own host name in the task instances, own log-server port (one host, one port each)
    NETFLOW_WORKER_HOSTNAME="worker$i" AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$p" \
      start "worker$i" airflow celery worker --celery-hostname "worker$i@%h"
    WORKER_INFO+="  Celery worker $i    var/logs/worker$i.log   (celery name worker$i@$(hostname), log server :$p)"$'\n'
  done
  WORKER_INFO+="  Broker / metadata  $AIRFLOW__CELERY__BROKER_URL   ${AIRFLOW_DB_URL}"$'\n'
fi

say "waiting for the DAGs to be parsed"
for _ in $(seq 1 120); do
  airflow dags list 2>/dev/null | grep -q net_surveillance_daily && break
  sleep 2
done
# new DAGs start unpaused (DAGS_ARE_PAUSED_AT_CREATION); this unpauses any paused in an earlier session
airflow dags unpause --treat-dag-id-as-regex -y '^net_(surveillance_daily|patient_import|weekly_report)$' \
  > "$VAR/logs/unpause.log" 2>&1 || true
airflow dags trigger net_surveillance_daily > "$VAR/logs/trigger.log" 2>&1 \
  && say "triggered one run of net_surveillance_daily" \
  || say "could not trigger net_surveillance_daily (see var/logs/trigger.log)"

cat <<INFO

  Airflow UI        http://localhost:$PORT   (login: admin / admin, or nurse / nurse: one team's worklist)
  DAGs              net_surveillance_daily, net_patient_import, net_weekly_report
  Emails            $VAR/mail/*.eml   (open them in any mail program)
  Patient database  $VAR/netflow.db   (netflow scan --as-of $TODAY --format table)
  Inbox             $VAR/inbox   (drop export files here for net_patient_import)
  Logs              $VAR/logs/
$WORKER_INFO
  Ctrl-C stops everything this command started.
INFO

wait -n "${PIDS[@]}" || true
say "a component stopped on its own (see $VAR/logs/)"
stop 1
