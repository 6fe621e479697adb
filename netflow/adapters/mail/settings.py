"""Where the SMTP server is and who mail comes from: NETFLOW_SMTP_URL and the addresses, checked once.

    settings = smtp_settings(config)      # or parse_smtp_url(url, allow_insecure, timeout=..., ca_file=...)
    check_addresses(config)               # NETFLOW_MAIL_FROM and NETFLOW_DATA_STEWARD, before anything is built

No error message or repr ever holds the SMTP password.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from netflow.adapters.mail.message import DOMAIN, parse_address
from netflow.config import ConfigError, Settings

__all__ = ["CA_VAR", "DEFAULT_PORTS", "URL_VAR", "SmtpSettings", "check_addresses", "message_domain",
           "parse_smtp_url", "smtp_settings"]

URL_VAR = "NETFLOW_SMTP_URL"
CA_VAR = "NETFLOW_SMTP_CA_FILE"
URL_FORM = "smtp://host[:port], smtp+starttls://user:password@host[:port] or smtps://user:password@host[:port]"
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
USE_TLS = "use smtp+starttls:// or smtps://"


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to reach the SMTP server. Its repr shows `redacted()`, never the password."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_file: str | None = None

    @property
    def address(self) -> str:
        """host:port, as error messages name the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def redacted(self) -> str:
        """The URL with the password replaced by ***."""
        user = f"{self.username}:***@" if self.username is not None else ""
        return f"{self.scheme}://{user}{self.address}"

    def __repr__(self) -> str:
        return f"SmtpSettings({self.redacted()!r}, timeout={self.timeout!r}, ca_file={self.ca_file!r})"

    def ssl_context(self) -> ssl.SSLContext:
        """Certificate and host name verification on; `ca_file` adds the CA of a private server."""
        return ssl.create_default_context(cafile=self.ca_file)


def parse_smtp_url(url: str, allow_insecure: bool = False, *, timeout: float = 30.0,
                   ca_file: str | None = None) -> SmtpSettings:
    """Read NETFLOW_SMTP_URL. Plain smtp:// is allowed only to this machine unless `allow_insecure`;
    a password is never sent unencrypted over the network. Errors never quote the password."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(f"{URL_VAR} is not a valid URL; expected {URL_FORM}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        got = f"{scheme}://" if parts.netloc and scheme else "no scheme"
        raise ConfigError(f"{URL_VAR} must start with smtp://, smtp+starttls:// or smtps://, got {got}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{URL_VAR} must be {URL_FORM} with nothing after the port; percent-encode "
                          "/ ? # @ : in the user name or password as %2F %3F %23 %40 %3A")
    host = (parts.hostname or "").rstrip(".")
    if not host or not (_is_ip(host) or DOMAIN.fullmatch(host)):
        raise ConfigError(f"{URL_VAR} must name a host name or IP address; expected {URL_FORM}")
    if port == 0:
        raise ConfigError(f"{URL_VAR} port must be between 1 and 65535")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username, password) != (None, None) and not (username and password):
        raise ConfigError(f"{URL_VAR} must give both a user name and a password (user:password@host), or neither")
    if scheme == "smtp" and not _is_local(host):
        if username is not None:
            raise ConfigError(f"{URL_VAR} would send the SMTP password unencrypted to {host}; {USE_TLS}")
        if not allow_insecure:
            raise ConfigError(f"{URL_VAR} is plain smtp:// to {host}, which would send patient data "
                              f"unencrypted; {USE_TLS}, or set NETFLOW_SMTP_ALLOW_INSECURE=true")
    if timeout <= 0:
        raise ConfigError(f"NETFLOW_SMTP_TIMEOUT must be a positive number of seconds, got {timeout!r}")
    if ca_file is not None and not Path(ca_file).is_file():
        raise ConfigError(f"{CA_VAR} names no readable file: {ca_file}")
    return SmtpSettings(scheme, host, port or DEFAULT_PORTS[scheme], username, password, timeout, ca_file)


def smtp_settings(config: Settings, ca_file: str | None = None) -> SmtpSettings:
    """The installation's SMTP settings (NETFLOW_SMTP_URL, _ALLOW_INSECURE, _TIMEOUT, _CA_FILE)."""
    return parse_smtp_url(config.smtp_url, config.smtp_allow_insecure, timeout=config.smtp_timeout,
                          ca_file=ca_file or config.smtp_ca_file)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_addresses(config: Settings) -> None:
    """NETFLOW_MAIL_FROM and NETFLOW_DATA_STEWARD must each be one valid address (ConfigError otherwise).

    Checked before anything is built: a digest addressed from or to a bad address could never be sent,
    and the quarantined rows it reports would be marked reported all the same."""
    for name, value in (("NETFLOW_MAIL_FROM", config.mail_from), ("NETFLOW_DATA_STEWARD", config.data_steward)):
        if value is not None:
            try:
                parse_address(value)
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None


def message_domain(config: Settings) -> str:
    """The domain of the installation's Message-IDs: the sender's, else netflow.local."""
    domain = config.mail_from.rpartition("@")[2].strip(">").strip()
    return domain if "." in domain else "netflow.local"
