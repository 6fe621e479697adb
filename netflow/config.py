"""Settings, parsed once from the environment. The only module that reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from netflow.errors import ConfigurationError

__all__ = ["DEFAULT_GUIDELINE", "PROJECT_ROOT", "ConfigError", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PHI_LEVELS = ("minimal", "full")
DEFAULT_GUIDELINE = "nccn"  # the installation default rule set unless NETFLOW_GUIDELINE says otherwise


class ConfigError(ConfigurationError):
    """A setting is missing or malformed; the message names the variable and the fix."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _paths(env: Mapping[str, str], name: str) -> tuple[Path, ...]:
    raw = env.get(name, "").strip()
    return tuple(Path(p) for p in raw.split(os.pathsep) if p.strip())


def _cpu_count() -> int:
    """The CPUs this process may run on (a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _worklist_url(env: Mapping[str, str]) -> str:
    from netflow.domain.digest import check_worklist_url

    url = env.get("NETFLOW_WORKLIST_URL", "").strip() or "http://localhost:8080/netflow/"
    try:
        return check_worklist_url(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class Settings:
    """Everything an installation configures, with the defaults of a local demo."""

    database_url: str
    default_guideline: str = DEFAULT_GUIDELINE
    ruleset_files: tuple[Path, ...] = ()
    smtp_url: str = "smtp://127.0.0.1:1025"
    smtp_allow_insecure: bool = False
    smtp_timeout: int = 30
    smtp_ca_file: str | None = None
    mail_from: str = "netflow@localhost"
    data_steward: str | None = None
    phi_level: str = "minimal"
    worklist_url: str = "http://localhost:8080/netflow/"
    max_attempts: int = 5
    timezone: str = "UTC"
    shards: int = 1
    # processes for what walks every patient: scan, evaluate, import parsing (NETFLOW_WORKERS; 1: in-process)
    workers: int = 1
    inbox: Path = PROJECT_ROOT / "var" / "inbox"
    ops_email: str | None = None
    db_conn_id: str = "netflow_db"
    smtp_conn_id: str = "smtp_default"
    fhir_conn_id: str = "netflow_fhir"  # the EHR's FHIR Bulk Data server (net_fhir_export)
    templates_dir: Path = PROJECT_ROOT / "templates"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, default_workers: int | None = None) -> Settings:
        """The settings from NETFLOW_* variables; NETFLOW_WORKERS defaults to `default_workers`, else the CPUs."""
        env = os.environ if env is None else env
        default_db = f"sqlite:///{PROJECT_ROOT / 'var' / 'netflow.db'}"
        phi = env.get("NETFLOW_PHI_LEVEL", "minimal").strip() or "minimal"
        if phi not in PHI_LEVELS:
            raise ConfigError(f"NETFLOW_PHI_LEVEL must be minimal or full, got {phi!r}")
        return cls(
            database_url=env.get("NETFLOW_DATABASE_URL", "").strip() or default_db,
            default_guideline=env.get("NETFLOW_GUIDELINE", "").strip() or DEFAULT_GUIDELINE,
            ruleset_files=_paths(env, "NETFLOW_RULESETS"),
            smtp_url=env.get("NETFLOW_SMTP_URL", "").strip() or "smtp://127.0.0.1:1025",
            smtp_allow_insecure=_bool(env, "NETFLOW_SMTP_ALLOW_INSECURE"),
            smtp_timeout=_int(env, "NETFLOW_SMTP_TIMEOUT", 30),
            smtp_ca_file=env.get("NETFLOW_SMTP_CA_FILE", "").strip() or None,
            mail_from=env.get("NETFLOW_MAIL_FROM", "").strip() or "netflow@localhost",
            data_steward=env.get("NETFLOW_DATA_STEWARD", "").strip() or None,
            phi_level=phi,
            worklist_url=_worklist_url(env),
            max_attempts=_int(env, "NETFLOW_MAX_ATTEMPTS", 5),
            timezone=env.get("NETFLOW_TIMEZONE", "").strip() or "UTC",
            shards=_int(env, "NETFLOW_SHARDS", 1),
            workers=_int(env, "NETFLOW_WORKERS", _cpu_count() if default_workers is None else default_workers),
            inbox=Path(env.get("NETFLOW_INBOX", "").strip() or PROJECT_ROOT / "var" / "inbox"),
            ops_email=env.get("NETFLOW_OPS_EMAIL", "").strip() or None,
            db_conn_id=env.get("NETFLOW_DB_CONN_ID", "").strip() or "netflow_db",
            smtp_conn_id=env.get("NETFLOW_SMTP_CONN_ID", "").strip() or "smtp_default",
            fhir_conn_id=env.get("NETFLOW_FHIR_CONN_ID", "").strip() or "netflow_fhir",
            templates_dir=Path(env.get("NETFLOW_TEMPLATES_DIR", "").strip() or PROJECT_ROOT / "templates"),
        )
