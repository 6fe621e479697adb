"""The docker compose deployment, checked without a Docker engine.

docker-compose.yml, .env.example, the Dockerfile, .dockerignore and deploy/postgres-init.sql must agree
with each other and with netflow: every variable defined, every Airflow container sharing its secrets,
the worker scalable, the image pinned to the locked Airflow version. Values are resolved the way Compose
resolves them (`${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$`), from .env.example's own values.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import cache
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

import netflow_airflow as glue
from netflow.adapters.mail import parse_smtp_url, smtp_settings
from netflow.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
DOCS = ROOT / "docs" / "deployment.md"

REQUIRED_SERVICES = ("postgres", "redis", "mailpit", "airflow-init", "airflow-apiserver", "airflow-scheduler",
                     "airflow-dag-processor", "airflow-triggerer", "airflow-worker")
AIRFLOW_SERVICES = tuple(name for name in REQUIRED_SERVICES if name.startswith("airflow-"))
ONE_SHOT = ("airflow-init", "netflow-cli")
AIRFLOW_COMMANDS = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker": "celery worker"}
SHARED_SECRETS = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY")
GENERATED_SECRETS = {
    "AIRFLOW__CORE__FERNET_KEY":
        'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"',
    "AIRFLOW__API_AUTH__JWT_SECRET": "openssl rand -hex 32",
    "AIRFLOW__API__SECRET_KEY": "openssl rand -hex 32",
    "POSTGRES_PASSWORD": "openssl rand -hex 24",
    "PATIENT_DB_PASSWORD": "openssl rand -hex 24",
    "AIRFLOW_ADMIN_PASSWORD": "openssl rand -hex 16",
}
NETFLOW_SETTINGS = ("NETFLOW_DATABASE_URL", "NETFLOW_TIMEZONE", "NETFLOW_SHARDS", "NETFLOW_MAIL_FROM",
                    "NETFLOW_DATA_STEWARD", "NETFLOW_WORKLIST_URL", "NETFLOW_PHI_LEVEL", "NETFLOW_INBOX",
                    "NETFLOW_SMTP_URL", "NETFLOW_SMTP_ALLOW_INSECURE", "NETFLOW_OPS_EMAIL")
EXECUTION_API_URL = "http://airflow-apiserver:8080/execution/"

# --- Compose's variable syntax -------------------------------------------------------------------------

VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """`text` with every ${...} replaced as Compose does; an unset variable without a default is an error."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = values.get(name)
        if op is None:
            if value is None:
                raise KeyError(f"${{{name}}} is not defined")
            return value
        present = bool(value) if op.startswith(":") else value is not None
        if op.endswith("-"):
            return value if present and value is not None else arg
        if op.endswith("?"):
            if not present or value is None:
                raise KeyError(f"${{{name}}} is required: {arg}")
            return value
        return arg if present else ""

    return "$".join(VARIABLE.sub(one, part) for part in text.split("$$"))


def variables_in(text: str) -> set[str]:
    return {match["name"] for part in text.split("$$") for match in VARIABLE.finditer(part)}


@dataclass(frozen=True)
class EnvEntry:
    name: str
    value: str
    comment: str
    line: int


@cache
def env_example() -> dict[str, EnvEntry]:
    """.env.example's variables in order, each with the comment lines right above it."""
    entries: dict[str, EnvEntry] = {}
    comment: list[str] = []
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text:
            comment = []
        elif text.startswith("#"):
            comment.append(text.lstrip("#").strip())
        else:
            name, sep, value = text.partition("=")
            assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), f".env.example:{number} is not NAME=value"
            assert name not in entries, f".env.example:{number} defines {name} a second time"
            assert not value.startswith(("'", '"')), f".env.example:{number}: write {name}'s value unquoted"
            entries[name] = EnvEntry(name, value, " ".join(comment), number)
            comment = []
    return entries


@cache
def env_values() -> dict[str, str]:
    """.env.example's values, each interpolated with the variables defined above it (as Compose reads .env)."""
    values: dict[str, str] = {}
    for entry in env_example().values():
        values[entry.name] = interpolate(entry.value, values)
    return values


# --- The files -----------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


ALL_SERVICES = sorted(compose()["services"])


def environment(service: str) -> dict[str, str]:
    """The service's environment as its container sees it, with .env.example's values."""
    env = services()[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: write environment as a mapping"
    return {key: interpolate(str(value), env_values()) for key, value in env.items()}


def mounts(service: str) -> dict[str, str]:
    """Mount target -> source (a named volume or a path) of the service's short-syntax volumes."""
    result = {}
    for volume in services()[service].get("volumes", []):
        source, target, *_ = volume.split(":")
        result[target] = source
    return result


def healthcheck(service: str) -> dict[str, Any]:
    return services()[service].get("healthcheck") or {}


@cache
def dockerfile() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = (line.strip() for line in text.splitlines())
    return tuple((word.upper(), rest.strip()) for word, _, rest in
                 (line.partition(" ") for line in lines if line and not line.startswith("#")))


def instructions(kind: str) -> list[str]:
    return [args for word, args in dockerfile() if word == kind]


def copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY, its --flags dropped."""
    result = []
    for args in instructions("COPY"):
        paths = [word for word in shlex.split(args) if not word.startswith("--")]
        result.append((paths[:-1], paths[-1]))
    return result


def dockerfile_env() -> dict[str, str]:
    pairs = (word.partition("=") for args in instructions("ENV") for word in shlex.split(args))
    return {name: value for name, sep, value in pairs if sep}


def netflow_variables() -> set[str]:
    """The NETFLOW_* variables netflow reads (netflow/config.py is the only reader of the environment)."""
    return set(re.findall(r'"(NETFLOW_[A-Z_]+)"', (ROOT / "netflow" / "config.py").read_text(encoding="utf-8")))


def airflow_connection(value: str) -> SimpleNamespace:
    """An AIRFLOW_CONN_* value read as Airflow reads it (JSON, or a URI whose query holds the extras;
    checked against airflow.models.Connection 3.3.2 by hand), without importing Airflow."""
    if value.startswith("{"):
        fields = json.loads(value)
        return SimpleNamespace(conn_id="", extra_dejson=fields.pop("extra", {}), **fields)
    parts = urlsplit(value)
    extras = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return SimpleNamespace(conn_id="", conn_type=parts.scheme, host=parts.hostname, port=parts.port,
                           login=unquote(parts.username or "") or None, password=unquote(parts.password or "") or None,
                           schema=parts.path.lstrip("/") or None,
                           extra_dejson={key: {"true": True, "false": False}.get(v, v) for key, v in extras.items()})


def locked(package: str) -> str:
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.partition("==")
        if sep and name.strip().lower() == package:
            return version.strip()
    raise AssertionError(f"requirements.lock pins no {package}")


# --- The compose file ------------------------------------------------------------------------------


def test_the_compose_file_parses_and_declares_every_named_volume_it_mounts() -> None:
    declared = set(compose().get("volumes") or {})
    for name in services():
        for source in mounts(name).values():
            assert source.startswith(".") or source in declared, f"{name} mounts undeclared volume {source}"


def test_every_required_service_is_defined() -> None:
    assert [name for name in REQUIRED_SERVICES if name not in services()] == []


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_service_has_an_image_or_a_build_a_healthcheck_and_a_restart_policy(service: str) -> None:
    spec = services()[service]
    assert spec.get("image") or spec.get("build")
    if service in ONE_SHOT:
        assert spec.get("restart") == "no", "a one-shot service must not be restarted"
        assert healthcheck(service) == {"disable": True}, "a one-shot service says its healthcheck is disabled"
    else:
        assert spec.get("restart") in ("always", "unless-stopped")
        test = healthcheck(service).get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_dependency_waits_for_a_condition_the_dependency_can_meet(service: str) -> None:
    for dependency, rule in (services()[service].get("depends_on") or {}).items():
        assert dependency in services(), f"{service} depends on undefined {dependency}"
        wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
        assert rule == {"condition": wanted}, f"{service} -> {dependency}"


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_every_airflow_service_waits_for_the_databases_the_broker_and_airflow_init(service: str) -> None:
    needs = services()[service]["depends_on"]
    assert {"postgres", "redis"} <= set(needs)
    if service != "airflow-init":
        assert needs["airflow-init"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_every_airflow_service_shares_the_execution_api_url_the_jwt_secret_and_the_fernet_key(service: str) -> None:
    raw = services()[service]["environment"]
    assert raw["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == EXECUTION_API_URL
    for name in SHARED_SECRETS:
        assert variables_in(raw[name]) == {name}, f"{service}: {name} must come from .env's {name}"
        assert environment(service)[name] == env_values()[name]


@pytest.mark.parametrize(("service", "command"), sorted(AIRFLOW_COMMANDS.items()))
def test_each_long_running_airflow_service_runs_its_own_airflow_command(service: str, command: str) -> None:
    assert services()[service]["command"] == command


def test_the_execution_api_url_names_the_api_server_and_its_port() -> None:
    url = urlsplit(EXECUTION_API_URL)
    api = services()["airflow-apiserver"]
    assert url.hostname == "airflow-apiserver"
    assert f"{url.port}:{url.port}" in api["ports"]
    assert "/api/v2/monitor/health" in " ".join(healthcheck("airflow-apiserver")["test"])


def test_the_executor_is_celery_with_a_redis_broker_and_a_postgresql_result_backend() -> None:
    env = environment("airflow-worker")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert (backend.scheme, backend.hostname) == ("db+postgresql+psycopg", "postgres")


def test_the_metadata_database_uses_the_installed_psycopg_driver_with_its_async_twin() -> None:
    """postgresql+psycopg2:// fails (psycopg2 is not installed); Airflow 3 needs the async URL beside it."""
    import psycopg  # noqa: F401  (the driver the URLs name is installed)

    env = environment("airflow-scheduler")
    sync = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    async_ = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"])
    backend = make_url(env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
    assert (sync.drivername, async_.drivername, backend.drivername) == (
        "postgresql+psycopg", "postgresql+psycopg_async", "postgresql+psycopg")
    assert sync.set(drivername="x") == async_.set(drivername="x") == backend.set(drivername="x")
    assert "psycopg2" not in COMPOSE.read_text(encoding="utf-8")


def test_the_lock_pins_the_celery_extra_at_versions_that_work_with_airflow_3_3() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"][
        "celery"]
    pinned = dict(requirement.split("==") for requirement in extra)
    assert pinned["celery"] == "5.6.3"  # 5.7.0: the provider's scheduler fails to import celery.backends.database
    for package, version in pinned.items():
        assert locked(package.lower()) == version


def test_every_worker_serves_its_logs_on_the_port_it_exposes() -> None:
    worker = services()["airflow-worker"]
    port = environment("airflow-worker")["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]
    assert [str(p) for p in worker["expose"]] == [port]
    assert "AIRFLOW__CELERY__WORKER_LOG_SERVER_PORT" not in COMPOSE.read_text(encoding="utf-8")  # not read


def test_the_worker_has_no_container_name_and_no_host_port_so_it_can_be_scaled() -> None:
    worker = services()["airflow-worker"]
    assert not {"container_name", "ports", "hostname"} & set(worker)


def test_every_variable_the_compose_file_uses_is_defined_in_env_example() -> None:
    used = variables_in(COMPOSE.read_text(encoding="utf-8"))
    assert sorted(used - set(env_example())) == []


def test_every_variable_in_env_example_is_used_by_the_compose_file_or_by_another_variable() -> None:
    used = variables_in(COMPOSE.read_text(encoding="utf-8"))
    used |= {name for entry in env_example().values() for name in variables_in(entry.value)}
    assert sorted(set(env_example()) - used) == []


def test_every_dollar_sign_in_the_compose_file_is_a_variable_or_escaped_for_the_shell() -> None:
    text = COMPOSE.read_text(encoding="utf-8").replace("$$", "")
    assert re.findall(r"\$(?!\{).{0,20}", text) == []


def test_airflow_init_migrates_airflow_writes_the_admin_password_and_upgrades_the_patient_database() -> None:
    init = services()["airflow-init"]
    script = interpolate(init["command"][-1], env_values())
    env = environment("airflow-init")
    assert env["_AIRFLOW_DB_MIGRATE"] == "true"
    assert "/entrypoint airflow" in script and "airflow db check-migrations" in script
    assert script.rstrip().endswith("netflow db upgrade")
    passwords = PurePosixPath(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    for service in ("airflow-init", "airflow-apiserver"):
        assert str(passwords.parent) in mounts(service), f"{service} must mount the password file's volume"


def test_airflow_init_is_valid_bash_and_refuses_placeholder_secrets() -> None:
    script = interpolate(services()["airflow-init"]["command"][-1], env_values())
    subprocess.run(["bash", "-n", "-c", script], check=True)
    prelude = script.split("/entrypoint")[0]
    refused = subprocess.run(["bash", "-euc", prelude], env={"PATH": "/usr/bin:/bin", **env_values()},
                             capture_output=True, text=True)
    assert refused.returncode == 1
    assert "AIRFLOW__CORE__FERNET_KEY" in refused.stdout
    assert env_values()["AIRFLOW__CORE__FERNET_KEY"] not in refused.stdout, "never print a secret's value"


# --- .env.example --------------------------------------------------------------------------------------


def test_every_variable_in_env_example_has_a_comment_right_above_it() -> None:
    assert [entry.name for entry in env_example().values() if not entry.comment] == []


def test_env_example_refers_only_to_variables_defined_above_them() -> None:
    assert set(env_values()) == set(env_example())


@pytest.mark.parametrize(("name", "command"), sorted(GENERATED_SECRETS.items()))
def test_every_secret_is_an_obvious_placeholder_with_the_command_that_generates_it(name: str, command: str) -> None:
    entry = env_example()[name]
    assert entry.value.startswith("change-me")
    assert command in entry.comment


def test_the_netflow_settings_of_every_airflow_service_are_ones_netflow_reads_and_accepts() -> None:
    for service in AIRFLOW_SERVICES:
        env = environment(service)
        assert [name for name in NETFLOW_SETTINGS if name not in env] == [], service
        assert sorted({name for name in env if name.startswith("NETFLOW_")} - netflow_variables()) == [], service
        settings = Settings.from_env(env)
        smtp_settings(settings)  # the mailpit URL is accepted (NETFLOW_SMTP_ALLOW_INSECURE) or this raises
        assert settings.inbox == Path("/opt/airflow/inbox")


def test_the_tasks_and_the_netflow_command_use_the_same_patient_database() -> None:
    env = environment("airflow-worker")
    from_connection = glue.database_url_from_connection(airflow_connection(env["AIRFLOW_CONN_NETFLOW_DB"]))
    assert make_url(from_connection) == make_url(env["NETFLOW_DATABASE_URL"])
    assert make_url(from_connection).host in services()


def test_the_tasks_send_through_smtp_default_to_mailpit_and_netflow_accepts_it_for_the_demo() -> None:
    env = environment("airflow-worker")
    settings = Settings.from_env(env)
    url, sender = glue.smtp_url_from_connection(airflow_connection(env["AIRFLOW_CONN_SMTP_DEFAULT"]))
    smtp = parse_smtp_url(url, settings.smtp_allow_insecure)
    assert (smtp.scheme, smtp.host, smtp.port) == ("smtp", "mailpit", 1025)
    assert sender == settings.mail_from
    assert urlsplit(settings.smtp_url).hostname == "mailpit"


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_every_airflow_service_mounts_the_inbox_volume_where_netflow_inbox_points(service: str) -> None:
    assert mounts(service).get(environment(service)["NETFLOW_INBOX"]) == "netflow-inbox"


def test_postgres_creates_the_patient_database_with_the_mounted_init_script() -> None:
    postgres = services()["postgres"]
    scripts = {target: source for target, source in mounts("postgres").items()
               if target.startswith("/docker-entrypoint-initdb.d/")}
    assert len(scripts) == 1 and next(iter(scripts)).endswith(".sql")
    sql = (ROOT / next(iter(scripts.values()))).read_text(encoding="utf-8")
    patients = make_url(env_values()["NETFLOW_DATABASE_URL"])
    metadata = make_url(environment("airflow-scheduler")["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert postgres["environment"]["POSTGRES_DB"] == metadata.database
    assert postgres["environment"]["POSTGRES_USER"] == metadata.username
    assert f"CREATE ROLE {patients.username} LOGIN PASSWORD :'" in sql
    assert f"CREATE DATABASE {patients.database} OWNER {patients.username}" in sql
    assert "\\getenv patient_db_password PATIENT_DB_PASSWORD" in sql
    assert environment("postgres")["PATIENT_DB_PASSWORD"] == patients.password


def documented(name: str) -> list[str]:
    """The values docs/deployment.md gives NAME in its examples (NAME=value lines of code blocks)."""
    return re.findall(rf"^{name}=(\S+)$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)


@pytest.mark.parametrize("value", documented("AIRFLOW_CONN_SMTP_DEFAULT"), ids=lambda v: f"port-{urlsplit(v).port}")
def test_every_relay_connection_the_deployment_guide_shows_is_encrypted_and_accepted(value: str) -> None:
    url, sender = glue.smtp_url_from_connection(airflow_connection(value))
    assert parse_smtp_url(url, allow_insecure=False).scheme in ("smtp+starttls", "smtps")
    assert sender


@pytest.mark.parametrize("value", documented("NETFLOW_SMTP_URL"), ids=lambda v: urlsplit(v).scheme)
def test_every_relay_url_the_deployment_guide_shows_is_encrypted_and_accepted(value: str) -> None:
    assert parse_smtp_url(value, allow_insecure=False).scheme in ("smtp+starttls", "smtps")


def test_the_deployment_guide_shows_a_starttls_and_an_implicit_tls_relay() -> None:
    assert len(documented("AIRFLOW_CONN_SMTP_DEFAULT")) == len(documented("NETFLOW_SMTP_URL")) == 2


# --- The image -----------------------------------------------------------------------------------------


def test_the_dockerfile_starts_from_the_official_airflow_image_of_the_locked_version() -> None:
    base = re.fullmatch(r"apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>[\d.]+)", instructions("FROM")[0])
    assert base, "FROM must name apache/airflow:VERSION-pythonX.Y"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert base["airflow"] == locked("apache-airflow") == locked("apache-airflow-core")
    assert f"apache-airflow=={base['airflow']}" in project["optional-dependencies"]["airflow"]
    assert f">={base['python']}" in project["requires-python"]


def test_the_dockerfile_installs_netflow_as_the_airflow_user_constrained_by_the_lock() -> None:
    user, installs = "root", []
    for word, args in dockerfile():
        user = args if word == "USER" else user
        if word == "RUN" and "pip install" in args:
            installs.append((user, shlex.split(args)))
    assert len(installs) == 1
    user, words = installs[0]
    assert user == "airflow"
    lock = PurePosixPath(words[words.index("-c") + 1])
    assert lock.name == "requirements.lock"
    assert any("requirements.lock" in sources and PurePosixPath(dest) == lock.parent for sources, dest in copies())
    assert "apache-airflow==${AIRFLOW_VERSION}" in words
    assert any(word.endswith("[airflow,celery]") for word in words) and "--no-cache-dir" in words


def test_the_dockerfile_puts_dags_plugins_and_templates_where_airflow_and_netflow_look() -> None:
    destinations = {sources[0].rstrip("/"): dest.rstrip("/") for sources, dest in copies() if len(sources) == 1}
    env = dockerfile_env()
    assert destinations["dags"] == "/opt/airflow/dags"
    assert destinations["plugins"] == "/opt/airflow/plugins"
    assert destinations["templates"] == env["NETFLOW_TEMPLATES_DIR"]
    assert env["NETFLOW_INBOX"] == environment("airflow-worker")["NETFLOW_INBOX"]


def test_every_netflow_variable_the_image_sets_is_one_netflow_reads() -> None:
    assert sorted({name for name in dockerfile_env() if name.startswith("NETFLOW_")} - netflow_variables()) == []


def test_the_image_gets_every_package_pyproject_installs() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "packages"]["find"]["include"]
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")
                if any(fnmatch(path.parent.name, pattern) for pattern in patterns)}
    source = PurePosixPath(next(dest for sources, dest in copies() if "pyproject.toml" in sources))
    copied = {PurePosixPath(dest).name for sources, dest in copies() if PurePosixPath(dest).parent == source}
    assert "netflow" in packages and sorted(packages - copied) == []


def test_the_compose_file_builds_every_airflow_container_from_this_dockerfile() -> None:
    images = {services()[name]["image"] for name in AIRFLOW_SERVICES}
    assert images == {"${AIRFLOW_IMAGE_NAME:?set AIRFLOW_IMAGE_NAME in .env (cp .env.example .env)}"}
    assert {services()[name]["build"] for name in AIRFLOW_SERVICES} == {"."}


def test_dockerignore_lets_in_what_the_dockerfile_copies_and_keeps_secrets_and_local_state_out() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:
            body = pattern.removeprefix("!").rstrip("/")
            if fnmatch(path, body) or (body.startswith("**/") and fnmatch(path.rsplit("/", 1)[-1], body[3:])):
                result = not pattern.startswith("!")
        return result

    copied = {source.rstrip("/") for sources, _ in copies() for source in sources}
    assert sorted(path for path in copied if ignored(path)) == []
    assert all(ignored(path) for path in (".env", ".venv", "var", "tests", ".git", "netflow/__pycache__"))
