"""Settings from Airflow connections, read the way Airflow's providers read them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.engine import make_url

import netflow_airflow as glue
from netflow.adapters.mail import parse_smtp_url
from netflow.config import ConfigError, Settings


def connection(**fields: Any) -> Any:
    from airflow.sdk import Connection

    extra = fields.pop("extra", None)
    return Connection(conn_id=fields.pop("conn_id", "c"), extra=json.dumps(extra) if extra else None, **fields)


def test_a_postgres_connection_becomes_a_psycopg_url_with_its_tls_settings() -> None:
    conn = connection(conn_type="postgres", host="db.hospital.example", login="netflow", password="p@ss/w:rd",
                      schema="netflow", port=5432, extra={"sslmode": "verify-full", "unrelated": "x"})

    url = make_url(glue.database_url_from_connection(conn))

    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg", "db.hospital.example", 5432, "netflow")
    assert url.password == "p@ss/w:rd"
    assert dict(url.query) == {"sslmode": "verify-full"}


def test_a_connection_of_another_type_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="netflow needs postgres or sqlite"):
        glue.database_url_from_connection(connection(conn_type="mysql", host="x"))


@pytest.mark.parametrize(
    ("extra", "scheme", "port"),
    [({}, "smtps", 465), ({"disable_ssl": True}, "smtp+starttls", 587),
     ({"disable_ssl": True, "disable_tls": True}, "smtp", 25)],
    ids=["implicit-tls-by-default", "starttls", "plain"],
)
def test_the_smtp_connection_is_read_as_the_smtp_provider_reads_it(extra: dict[str, Any], scheme: str,
                                                                   port: int) -> None:
    conn = connection(conn_type="smtp", host="relay.hospital.example", login="netflow", password="s3cr/t",
                      extra={**extra, "from_email": "netflow@hospital.example"})

    url, sender = glue.smtp_url_from_connection(conn)

    assert url.startswith(f"{scheme}://") and url.endswith(f"@relay.hospital.example:{port}")
    assert sender == "netflow@hospital.example"
    if scheme == "smtp":  # netflow refuses to send a password in clear text to a remote relay
        with pytest.raises(ValueError, match="unencrypted"):
            parse_smtp_url(url, allow_insecure=True)
    else:
        settings = parse_smtp_url(url)
        assert (settings.scheme, settings.port, settings.password) == (scheme, port, "s3cr/t")


def context(as_of: str = "", logical: datetime | None = None, run_after: datetime | None = None) -> dict[str, Any]:
    return {"params": {"as_of": as_of}, "dag_run": SimpleNamespace(logical_date=logical, run_after=run_after)}


def test_as_of_is_the_run_date_in_the_installation_time_zone() -> None:
    config = Settings.from_env({"NETFLOW_TIMEZONE": "America/New_York"})
    when = datetime.fromisoformat("2026-12-01T03:00:00+00:00")  # still 30 November in New York
    assert glue.as_of(context(logical=when), config) == date(2026, 11, 30)


def test_a_manual_run_without_logical_date_uses_run_after() -> None:
    config = Settings.from_env({})
    assert glue.as_of(context(run_after=datetime.fromisoformat("2026-12-02T09:00:00+00:00")), config) == date(
        2026, 12, 2)


def test_the_as_of_param_replays_a_date_and_a_bad_one_is_refused() -> None:
    config = Settings.from_env({})
    assert glue.as_of(context("2026-06-01", run_after=datetime.now()), config) == date(2026, 6, 1)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        glue.as_of(context("June 1st", run_after=datetime.now()), config)


def from_uri(uri: str) -> Any:
    from airflow.sdk import Connection

    return Connection.from_uri(uri, conn_id="netflow_db")


@pytest.mark.parametrize(("conn", "path"), [
    (lambda: connection(conn_type="sqlite", host="/var/lib/netflow/patients.db"), "/var/lib/netflow/patients.db"),
    (lambda: connection(conn_type="sqlite", schema="/var/lib/netflow/patients.db"), "/var/lib/netflow/patients.db"),
    (lambda: from_uri("sqlite:////var/lib/netflow/patients.db"), "/var/lib/netflow/patients.db"),
    (lambda: from_uri("sqlite:///var/lib/netflow/patients.db"), "/var/lib/netflow/patients.db"),
    (lambda: connection(conn_type="sqlite", host="var/patients.db"), "var/patients.db"),
    (lambda: from_uri("sqlite://var/patients.db"), "var/patients.db"),
    (lambda: from_uri("sqlite:////srv/net%20flow/a%3Fb%23c.db"), "/srv/net flow/a?b#c.db"),
], ids=["host-only", "schema-only", "uri-four-slashes", "uri-three-slashes", "relative-host", "relative-uri",
        "quoted-characters"])
def test_a_sqlite_connection_names_its_file_in_the_host_or_the_schema(conn: Callable[[], Any], path: str) -> None:
    """Read as Airflow's SQLite provider reads it: host, then "/" and the schema (three slashes are absolute)."""
    connection_ = conn()
    assert connection_.conn_type == "sqlite"

    url = make_url(glue.database_url_from_connection(connection_))

    assert (url.drivername, url.database) == ("sqlite", path)


@pytest.mark.parametrize("conn", [
    lambda: connection(conn_id="netflow_db", conn_type="sqlite"),
    lambda: from_uri("sqlite://"),
    lambda: from_uri("sqlite:///"),
    lambda: connection(conn_id="netflow_db", conn_type="sqlite", host=":memory:"),
], ids=["no-fields", "uri-two-slashes", "uri-three-slashes", "memory"])
def test_a_sqlite_connection_without_a_file_is_refused_never_in_memory(conn: Callable[[], Any]) -> None:
    with pytest.raises(ConfigError, match="connection netflow_db has no SQLite file path"):
        glue.database_url_from_connection(conn())


def test_a_task_works_in_one_process_unless_netflow_workers_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETFLOW_WORKERS", raising=False)
    monkeypatch.setattr(glue, "_connection", lambda conn_id: None)
    assert glue.settings().workers == 1 and Settings.from_env().workers >= 1
    monkeypatch.setenv("NETFLOW_WORKERS", "3")
    assert glue.settings().workers == 3
