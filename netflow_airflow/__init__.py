"""The seam between Airflow and netflow (a package of its own: `netflow` never imports Airflow).

Only this package and the DAG files import Airflow; `netflow` itself never does. Everything here
is lazy: nothing reads a connection or the database when a DAG file is parsed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from netflow.config import ConfigError, Settings

if TYPE_CHECKING:
    from netflow.installation import Installation
    from netflow.services.fhir_export import ExportSource

T = TypeVar("T")

__all__ = ["Run", "allow_future", "as_of", "current_run", "database_url_from_connection", "default_args", "dry_run",
           "failure_notifier", "fhir_source", "full", "installation", "mapped_results", "run_date", "run_id",
           "schedule_settings", "settings", "smtp_url_from_connection", "teams", "worker_hostname"]


def schedule_settings() -> Settings:
    """Settings for the DAG definition itself (time zone, alert address): environment only, no I/O."""
    return Settings.from_env()


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def database_url_from_connection(conn: Any) -> str:
    """A SQLAlchemy URL from an Airflow connection's fields (Connection.get_uri() is not one)."""
    from netflow.adapters.db import url_from_parts

    if conn.conn_type == "sqlite":
        return "sqlite:///" + quote(_sqlite_path(conn), safe="/")
    if conn.conn_type not in ("postgres", "postgresql"):
        raise ConfigError(f"connection {conn.conn_id!r} has type {conn.conn_type!r}; netflow needs postgres or sqlite")
    tls = {k: str(v) for k, v in conn.extra_dejson.items()
           if k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "target_session_attrs")}
    return url_from_parts(username=conn.login or None, password=conn.password or None, host=conn.host or None,
                          port=conn.port or None, database=conn.schema or None, query=tls)


def _sqlite_path(conn: Any) -> str:
    """The SQLite file a connection names, read as Airflow's SQLite provider reads it: the host, then
    "/" and the schema when there is one. So `sqlite:////abs/file.db` and `sqlite:///abs/file.db` (host
    empty, schema `/abs/file.db` or `abs/file.db`) and a JSON connection's host `/abs/file.db` all name
    /abs/file.db; `sqlite://rel/file.db` and a host `rel/file.db` a relative path. Never in-memory."""
    host, schema = conn.host or "", conn.schema or ""
    path = f"{host}/{schema}" if schema else host
    if not path.strip("/") or path == ":memory:":
        raise ConfigError(f"connection {conn.conn_id} has no SQLite file path: give the file's absolute path "
                          "as its host, or the URI sqlite:////absolute/path/netflow.db")
    return "/" + path.lstrip("/") if path.startswith("/") else path


def smtp_url_from_connection(conn: Any) -> tuple[str, str | None]:
    """NETFLOW_SMTP_URL and the sender from an SMTP connection, read as the SMTP provider's hook reads it:
    implicit TLS unless `disable_ssl`, then STARTTLS unless `disable_tls`, else plain SMTP."""
    extra = conn.extra_dejson
    if not extra.get("disable_ssl", False):
        scheme, default_port = "smtps", 465
    elif not extra.get("disable_tls", False):
        scheme, default_port = "smtp+starttls", 587
    else:
        scheme, default_port = "smtp", 25
    credentials = ""
    if conn.login:
        credentials = quote(conn.login, safe="") + (":" + quote(conn.password, safe="") if conn.password else "") + "@"
    host = conn.host or "localhost"
    return f"{scheme}://{credentials}{host}:{conn.port or default_port}", extra.get("from_email")


def settings() -> Settings:
    """The installation's settings, with the patient database and SMTP taken from Airflow connections
    when they exist (`netflow_db`, `smtp_default` unless configured), else from NETFLOW_* variables."""
    # One process per task unless NETFLOW_WORKERS says otherwise: a DAG scales out as Airflow tasks (shards,
    # mapped imports), and a process forked inside a Celery worker's task inherits its broker connections.
    config = Settings.from_env(default_workers=1)
    changes: dict[str, Any] = {}
    db = _connection(config.db_conn_id)
    if db is not None:
        changes["database_url"] = database_url_from_connection(db)
    smtp = _connection(config.smtp_conn_id)
    if smtp is not None:
        changes["smtp_url"], sender = smtp_url_from_connection(smtp)
        if sender and config.mail_from == "netflow@localhost":
            changes["mail_from"] = sender
    return dataclasses.replace(config, **changes) if changes else config


def fhir_source(config: Settings) -> ExportSource:
    """The EHR's Bulk Data server from the `netflow_fhir` connection (NETFLOW_FHIR_CONN_ID): host the FHIR base
    URL, login the client id, password the private key (PEM; or extra `private_key_file`), extra `token_url`,
    `kid`, `group_id`, and optionally `scope` and `max_wait_minutes`. ConfigError names what is missing."""
    from netflow.adapters.bulkdata import FhirServer
    from netflow.services.fhir_export import MAX_WAIT, ExportSource

    conn = _connection(config.fhir_conn_id)
    if conn is None:
        raise ConfigError(f"no Airflow connection {config.fhir_conn_id!r}: add one for the EHR's FHIR Bulk Data "
                          "server (docs/fhir-export.md)")
    extra = conn.extra_dejson
    key = conn.password or ""
    if not key and extra.get("private_key_file"):
        try:
            key = Path(str(extra["private_key_file"])).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"connection {conn.conn_id}: cannot read private_key_file ({exc.strerror})") from None
    fields = {"host (the FHIR base URL)": conn.host, "login (the client id)": conn.login, "password or extra "
              "private_key_file (the private key)": key, "extra token_url": extra.get("token_url"),
              "extra kid": extra.get("kid"), "extra group_id": extra.get("group_id")}
    missing = [name for name, value in fields.items() if not value]
    if missing:
        raise ConfigError(f"connection {conn.conn_id} has no {', no '.join(missing)}")
    server = FhirServer(base_url=str(conn.host), token_url=str(extra["token_url"]), client_id=str(conn.login),
                        private_key=key, key_id=str(extra["kid"]), scope=str(extra.get("scope") or "system/*.read"))
    try:
        max_wait = float(extra.get("max_wait_minutes") or MAX_WAIT / 60) * 60
    except (TypeError, ValueError):
        raise ConfigError(f"connection {conn.conn_id}: extra max_wait_minutes must be a number") from None
    return ExportSource(server, str(extra["group_id"]), max_wait)


def installation() -> Installation:
    """The installation for a task: settings from the environment and the Airflow connections."""
    from netflow.installation import Installation

    return Installation.from_settings(settings())


def run_date(context: Any, config: Settings) -> date:
    """The run's date in the installation time zone. Manual and asset-triggered runs have no logical
    date in Airflow 3, so run_after is the fallback."""
    dag_run = context["dag_run"]
    moment: datetime = dag_run.logical_date or dag_run.run_after
    return moment.astimezone(ZoneInfo(config.timezone)).date()


def as_of(context: Any, config: Settings) -> date:
    """The `as_of` param when given (to replay a date), else the run's date in the installation time zone;
    a date after tomorrow there is an InputError unless the `allow_future` param is true."""
    from netflow.services.daily import settle_as_of

    return settle_as_of(context["params"].get("as_of"), run_date(context, config), timezone=config.timezone,
                        allow_future=allow_future(context))


def allow_future(context: Any) -> bool:
    """The `allow_future` param: take an `as_of` after tomorrow."""
    return bool(context["params"].get("allow_future"))


def run_id(context: Any) -> str:
    return str(context["dag_run"].run_id)[:100]


def teams(context: Any) -> frozenset[str] | None:
    chosen = [t for t in (context["params"].get("teams") or []) if t]
    return frozenset(chosen) if chosen else None


def dry_run(context: Any) -> bool:
    return bool(context["params"].get("dry_run"))


def full(context: Any) -> bool:
    """The `full` param: evaluate every patient, not only those whose evaluation can have changed."""
    return bool(context["params"].get("full"))


@dataclass
class Run:
    """What a task of a netflow DAG run works with: the installation, and the run's id and params.

        with glue.current_run() as run:
            return daily.record(run.inst, date.fromisoformat(as_of), run.run_id, teams=run.teams).as_counts()
    """

    inst: Installation
    run_id: str
    teams: frozenset[str] | None
    dry_run: bool
    requested_as_of: str
    run_date: date
    allow_future: bool = False
    full: bool = False

    @property
    def as_of(self) -> date:
        """The `as_of` param when given, else the run's date (the daily DAG's `check` settles it once); after
        tomorrow only with the `allow_future` param."""
        from netflow.services.daily import settle_as_of

        return settle_as_of(self.requested_as_of, self.run_date, timezone=self.inst.settings.timezone,
                            allow_future=self.allow_future)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inst.close()


def current_run() -> Run:
    """The running task's Run (call it inside a task)."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    inst = installation()
    return Run(inst, run_id(context), teams(context), dry_run(context),
               str(context["params"].get("as_of") or "").strip(), run_date(context, inst.settings),
               allow_future(context), full(context))


def worker_hostname() -> str:
    """The host name a task instance records (`[core] hostname_callable`): NETFLOW_WORKER_HOSTNAME when set,
    else the machine's FQDN as Airflow's default. Several Celery workers on one machine (`make run
    EXECUTOR=celery WORKERS=2`, the scale-out test) set it to tell their task instances apart."""
    import os
    import socket

    return os.environ.get("NETFLOW_WORKER_HOSTNAME") or socket.getfqdn()


def mapped_results(values: Sequence[T]) -> list[T]:
    """The results of a mapped task (every map index, in order) as a plain list, read in one request.

    Airflow passes a mapped task's results downstream as a lazy sequence; iterating it asks for one item
    after another until the API answers 404 past the last one, and the Task SDK logs that 404 at level
    error ("XCom not found ... offset=N"). A slice reads them all at once and never asks past the end."""
    return list(values[:])


def default_args(config: Settings, **overrides: Any) -> dict[str, Any]:
    """Every task: owned by netflow, retried, and alerting the operations address when it fails for good."""
    return {"owner": "netflow", "retries": 2, "on_failure_callback": failure_notifier(config), **overrides}


def failure_notifier(config: Settings) -> list[Any]:
    """An SmtpNotifier to the operations address (no patient data: DAG, run and task ids only).

    It is a task callback: the task that failed for good (after its retries) sends one alert
    naming itself, so the run's failure reaches the operations address."""
    if not config.ops_email:
        return []
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return [SmtpNotifier(
        to=config.ops_email,
        smtp_conn_id=config.smtp_conn_id,
        subject="netflow: {{ dag.dag_id }} failed ({{ run_id }})",
        html_content=(
            "<p>The netflow DAG <b>{{ dag.dag_id }}</b> failed in run <code>{{ run_id }}</code>"
            "{% if ti %}, task <code>{{ ti.task_id }}</code>{% endif %}.</p>"
            "<p>Open the run in the Airflow UI for the task logs. Messages that were not sent stay in "
            "the outbox and go out with the next attempt.</p>"
        ),
    )]
