"""Email out: where the SMTP server is, what a digest message looks like, one connection per run.

    settings = smtp_settings(config)        # or parse_smtp_url(url, allow_insecure, timeout=..., ca_file=...)
    message = build_message(sender=config.mail_from, to=navigators, cc=attendings, subject=subject,
                            text=text, html=html, message_id=make_message_id(outbox_id, "netflow.example.org"))
    with SmtpMailer(settings) as mailer:
        mailer.send(message)                # returns only once the server accepted the message;
                                            # otherwise raises DeliveryError(temporary=..., text=...)

`FakeMailer` has the same interface for tests of other code; `write_eml` writes a message to a
file a person can open (dry runs). No header is built from text that was not checked here, and
no error message or repr ever holds the SMTP password.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import unquote, urlsplit

from netflow.config import ConfigError, Settings

__all__ = [
    "DEFAULT_PORTS",
    "DeliveryError",
    "FakeMailer",
    "Mailer",
    "SmtpMailer",
    "SmtpSettings",
    "build_message",
    "make_message_id",
    "parse_address",
    "parse_smtp_url",
    "smtp_settings",
    "write_eml",
]

log = logging.getLogger(__name__)

URL_VAR = "NETFLOW_SMTP_URL"
CA_VAR = "NETFLOW_SMTP_CA_FILE"
URL_FORM = "smtp://host[:port], smtp+starttls://user:password@host[:port] or smtps://user:password@host[:port]"
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
USE_TLS = "use smtp+starttls:// or smtps://"

_LINE_BREAKS = frozenset("\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")
_MESSAGE_ID = re.compile(rf"<{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*>")
_HEADER_NAME = re.compile(r"[!-9;-~]+")
_RESERVED_HEADERS = frozenset((
    "from", "sender", "reply-to", "to", "cc", "bcc", "subject", "message-id", "date", "mime-version",
))
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}")


# --- settings ----------------------------------------------------------------------------------


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
    if not host or not (_is_ip(host) or _DOMAIN.fullmatch(host)):
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


# --- messages ----------------------------------------------------------------------------------


def parse_address(text: str) -> Address:
    """One email address, `a@b.org` or `Display Name <a@b.org>`, checked strictly; ValueError otherwise.

    Use it when a configuration is loaded, so that bad addresses are found before any run."""
    if not isinstance(text, str) or _LINE_BREAKS.intersection(text):
        raise ValueError("an email address must be one line of text")
    pairs = getaddresses([text])
    name, spec = pairs[0] if len(pairs) == 1 else ("", "")
    stripped = text.strip()
    well_formed = (
        len(pairs) == 1
        and len(spec) <= 254
        and _ADDR_SPEC.fullmatch(spec) is not None
        and (stripped == spec or stripped.endswith(f"<{spec}>"))
        and not set("<>@").intersection(name)
    )
    problem = f"{text!r} is not a single valid email address (expected a@example.org or Name <a@example.org>)"
    if not well_formed:
        raise ValueError(problem)
    try:
        return Address(display_name=name, addr_spec=spec)
    except Exception:  # HeaderParseError is not a ValueError
        raise ValueError(problem) from None


def make_message_id(outbox_id: int, domain: str, *, as_of: dt.date | None = None) -> str:
    """The stable Message-ID of one outbox entry, e.g. <digest-42.20261201@netflow.local>.

    The same entry always gets the same id, so a mail system can drop a resent duplicate."""
    if isinstance(outbox_id, bool) or not isinstance(outbox_id, int) or outbox_id < 1:
        raise ValueError(f"outbox_id must be a positive whole number, got {outbox_id!r}")
    if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
        raise ValueError(f"message id domain must be a host name such as netflow.example.org, got {domain!r}")
    day = f".{as_of:%Y%m%d}" if as_of is not None else ""
    return f"<digest-{outbox_id}{day}@{domain}>"


def build_message(*, sender: str, to: Sequence[str], cc: Sequence[str] = (), subject: str, text: str,
                  html: str, message_id: str, date: dt.datetime | None = None,
                  headers: Mapping[str, str] | None = None, reply_to: Sequence[str] = ()) -> EmailMessage:
    """A multipart/alternative message, plain text first and HTML second, both UTF-8.

    Every address and header value is checked (ValueError): one address per entry, no line
    breaks anywhere, so no header can be injected. `date` must be timezone-aware (default: now, UTC)."""
    if isinstance(to, str) or isinstance(cc, str) or isinstance(reply_to, str):
        raise ValueError("to, cc and reply_to must be lists of addresses, not a single string")
    if not to:
        raise ValueError("a message needs at least one To address")
    if not _MESSAGE_ID.fullmatch(message_id or ""):
        raise ValueError(f"message_id must look like <digest-42@netflow.example.org>, got {message_id!r}")
    when = date if date is not None else dt.datetime.now(dt.UTC)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("date must be timezone-aware")
    msg = EmailMessage(policy=policy.default)
    msg["From"] = parse_address(sender)
    msg["To"] = [parse_address(a) for a in to]
    if cc:
        msg["Cc"] = [parse_address(a) for a in cc]
    if reply_to:
        msg["Reply-To"] = [parse_address(a) for a in reply_to]
    msg["Subject"] = _one_line("Subject", subject)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    extra = {"Auto-Submitted": "auto-generated", **(headers or {})}
    for name, value in extra.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid header name")
        lowered = name.lower()
        if lowered in _RESERVED_HEADERS or lowered.startswith(("content-", "resent-")):
            raise ValueError(f"header {name} is set by build_message itself; pass it as an argument")
        msg[name] = _one_line(name, value)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in msg.iter_parts():
        del part["MIME-Version"]
    return msg


def _one_line(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"the {name} header must be text")
    if _LINE_BREAKS.intersection(value):
        raise ValueError(f"the {name} header contains a line break; header values must be one line")
    return value


def write_eml(directory: str | os.PathLike[str], message: EmailMessage, name: str) -> Path:
    """Write `message` to directory/name.eml (created 0600, replaced atomically); return the path.

    `name` is a plain file name (letters, digits, . _ -), e.g. a team key and the run date."""
    stem = name[:-4] if name.lower().endswith(".eml") else name
    if not _FILE_NAME.fullmatch(stem) or ".." in stem:
        raise ValueError(f"{name!r} is not a plain file name (letters, digits, . _ -)")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.eml"
    data = message.as_bytes(policy=policy.SMTP)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- delivery ----------------------------------------------------------------------------------


class DeliveryError(Exception):
    """The server did not accept a message. `temporary`: worth retrying later (4xx, connection lost);
    otherwise permanent (5xx, bad certificate, bad login). `text` says what happened, without secrets."""

    def __init__(self, temporary: bool, text: str, code: int | None = None) -> None:
        super().__init__(text)
        self.temporary = temporary
        self.text = text
        self.code = code

    def __repr__(self) -> str:
        return f"DeliveryError(temporary={self.temporary!r}, text={self.text!r})"


class Mailer(Protocol):
    """The port: one connection for a run; `send` returns only once the server accepted the message."""

    def __enter__(self) -> Mailer: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """One SMTP connection for a whole run.

    If the connection drops, the next `send` reconnects once; if that fails too, every later
    send fails at once with a temporary DeliveryError (the server is gone; retry the run)."""

    def __init__(self, settings: SmtpSettings, *, local_hostname: str | None = None) -> None:
        self.settings = settings
        self._local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self._open = False
        self._gone: str | None = None

    def __repr__(self) -> str:
        return f"SmtpMailer({self.settings.redacted()!r})"

    def __enter__(self) -> Self:
        if self._open:
            raise RuntimeError("this SmtpMailer is already open")
        self._smtp = self._connect()
        self._open = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._open = False
        self._drop(quit=True)

    def send(self, message: EmailMessage) -> None:
        """Hand `message` to the server; return only when it accepted it, else raise DeliveryError."""
        if not self._open:
            raise RuntimeError("use the mailer in a with-block: with SmtpMailer(settings) as mailer: ...")
        smtp = self._live_connection()
        where = self.settings.address
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            temporary = any(400 <= c < 500 for c in codes)
            raise DeliveryError(temporary, f"SMTP server {where} refused every recipient "
                                           f"(codes {sorted(set(codes))})", min(codes, default=None)) from exc
        except smtplib.SMTPResponseException as exc:
            if smtp.sock is None:  # smtplib closes the connection on 421
                self._drop()
            raise DeliveryError(not 500 <= exc.smtp_code < 600,
                                f"SMTP server {where} refused the message: {_reply(exc)}", exc.smtp_code) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(False, f"SMTP server {where} cannot take this message: {exc}") from exc
        except OSError as exc:  # SMTPServerDisconnected, timeouts, resets
            self._drop()
            raise DeliveryError(True, f"connection to SMTP server {where} was lost while sending "
                                      f"({_os_reason(exc)}); the message was not confirmed") from exc
        if refused:
            log.warning("SMTP server %s accepted a message but refused %d of its recipients (codes %s)",
                        where, len(refused), sorted({code for code, _ in refused.values()}))

    def _live_connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except OSError:
                pass
            self._drop()
        if self._gone is not None:
            raise DeliveryError(True, self._gone)
        log.info("reconnecting to SMTP server %s", self.settings.address)
        try:
            self._smtp = self._connect()
        except DeliveryError as exc:
            self._gone = f"{exc.text} (reconnect failed; not trying again in this run)"
            raise
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP | None = None
        try:
            if s.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(s.host, s.port, local_hostname=self._local_hostname,
                                        timeout=s.timeout, context=s.ssl_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, local_hostname=self._local_hostname, timeout=s.timeout)
            smtp.ehlo()
            if s.scheme == "smtp+starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(False, f"SMTP server {s.address} does not offer STARTTLS; "
                                               f"if it expects TLS from the start, use smtps:// in {URL_VAR}")
                smtp.starttls(context=s.ssl_context())
                smtp.ehlo()
            if s.username is not None and s.password is not None:
                smtp.login(s.username, s.password)
        except Exception as exc:
            if smtp is not None:
                smtp.close()
            if isinstance(exc, DeliveryError):
                raise
            raise _setup_error(exc, s) from exc
        log.info("connected to SMTP server %s", s.address)
        return smtp

    def _drop(self, quit: bool = False) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if quit and smtp.sock is not None:
                smtp.quit()
        except OSError:
            pass
        finally:
            smtp.close()


def _setup_error(exc: Exception, s: SmtpSettings) -> DeliveryError:
    where = s.address
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(False, f"the TLS certificate of SMTP server {where} could not be verified "
                                    f"({exc.verify_message}); if the server uses its own CA, set {CA_VAR}")
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(False, f"TLS with SMTP server {where} failed ({exc.reason}); check the "
                                    f"scheme and port in {URL_VAR} (smtps:// usually 465, smtp+starttls:// 587)")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(False, f"SMTP server {where} refused the login of user {s.username!r}: "
                                    f"{_reply(exc)}; check the user name and password in {URL_VAR}",
                             exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        return DeliveryError(not 500 <= exc.smtp_code < 600,
                             f"SMTP server {where} refused the connection: {_reply(exc)}", exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(False, f"SMTP server {where}: {exc}; check {URL_VAR}")
    if isinstance(exc, OSError):
        return DeliveryError(True, f"could not connect to SMTP server {where} ({_os_reason(exc)}); "
                                   f"check {URL_VAR} and that the server is running")
    return DeliveryError(True, f"could not set up the connection to SMTP server {where} ({type(exc).__name__})")


def _reply(exc: smtplib.SMTPResponseException) -> str:
    raw = exc.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{exc.smtp_code} {' '.join(text.split())[:200]}"


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


# --- the test double ---------------------------------------------------------------------------


class FakeMailer:
    """Stands in for SmtpMailer in tests of other code: keeps every accepted message in `sent`.

        mailer = FakeMailer().fail(2, temporary=False)     # the 2nd send raises, the others pass
        with mailer:
            ...
        assert [m["Message-ID"] for m in mailer.sent] == [...]
    """

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.attempts = 0
        self.connections = 0
        self._failures: dict[int, tuple[bool, str]] = {}
        self._connect_failure: tuple[bool, str] | None = None
        self._open = False

    def fail(self, nth: int, *, temporary: bool = False, text: str = "550 rejected by FakeMailer") -> Self:
        """Make the nth send attempt (counting from 1, over the mailer's life) raise DeliveryError."""
        self._failures[nth] = (temporary, text)
        return self

    def fail_connect(self, *, temporary: bool = True, text: str = "could not connect (FakeMailer)") -> Self:
        """Make entering the with-block raise DeliveryError, as when the server is down."""
        self._connect_failure = (temporary, text)
        return self

    def __enter__(self) -> Self:
        if self._connect_failure is not None:
            raise DeliveryError(*self._connect_failure)
        self.connections += 1
        self._open = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._open = False

    def send(self, message: EmailMessage) -> None:
        if not self._open:
            raise RuntimeError("use the mailer in a with-block: with FakeMailer() as mailer: ...")
        self.attempts += 1
        failure = self._failures.get(self.attempts)
        if failure is not None:
            raise DeliveryError(*failure)
        self.sent.append(message)
