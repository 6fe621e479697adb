"""The seam between Airflow and netflow (a package of its own: `netflow` never imports Airflow).

Only this package and the DAG files import Airflow; `netflow` itself never does. Everything here
is lazy: nothing reads a connection or the database when a DAG file is parsed.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from netflow.config import Settings
from netflow.domain.dates import parse_iso_date

__all__ = ["as_of", "database_url_from_connection", "default_args", "dry_run", "failure_notifier", "run_id",
           "schedule_settings", "settings", "smtp_url_from_connection", "summary_table", "teams"]



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
    from sqlalchemy.engine import URL

    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    drivers = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}
    if conn.conn_type not in drivers:
        raise ValueError(f"connection {conn.conn_id!r} has type {conn.conn_type!r}; netflow needs postgres or sqlite")
    tls = {k: str(v) for k, v in conn.extra_dejson.items()
           if k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "target_session_attrs")}
    url = URL.create(drivers[conn.conn_type], username=conn.login or None, password=conn.password or None,
                     host=conn.host or None, port=conn.port or None, database=conn.schema or None, query=tls)
    return url.render_as_string(hide_password=False)


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
    config = Settings.from_env()
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


def as_of(context: Any, config: Settings) -> date:
    """The `as_of` param when given (to replay a date), else the run's date in the installation time zone.

    Manual and asset-triggered runs have no logical date in Airflow 3, so run_after is the fallback."""
    requested = (context["params"].get("as_of") or "").strip()
    if requested:
        parsed = parse_iso_date(requested)
        if parsed is None:
            raise ValueError(f"param as_of must be a date as YYYY-MM-DD, got {requested!r}")
        return parsed
    dag_run = context["dag_run"]
    moment: datetime = dag_run.logical_date or dag_run.run_after
    return moment.astimezone(ZoneInfo(config.timezone)).date()


def run_id(context: Any) -> str:
    return str(context["dag_run"].run_id)[:100]


def teams(context: Any) -> frozenset[str] | None:
    chosen = [t for t in (context["params"].get("teams") or []) if t]
    return frozenset(chosen) if chosen else None


def dry_run(context: Any) -> bool:
    return bool(context["params"].get("dry_run"))


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


def summary_table(totals: dict[str, Any]) -> str:
    """The run summary as a few aligned lines for the task log (counts only)."""
    lines = [f"netflow run summary for {totals.get('as_of')}" + (" (dry run)" if totals.get("dry_run") else "")]
    lines.append(f"  patients evaluated   {totals['evaluated']}")
    for status, n in totals["by_status"].items():
        lines.append(f"    {status:<18} {n}")
    for kind, n in totals["events"].items():
        lines.append(f"  event {kind:<14} {n}")
    lines.append(f"  digests built        {totals['digests']} (+{totals['steward_digests']} data steward)")
    lines.append(f"  sent / retrying / failed  {totals['sent']} / {totals['retrying']} / {totals['failed']}")
    return "\n".join(lines)
