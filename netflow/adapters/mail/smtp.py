"""Delivery: one SMTP connection for a run; `send` returns only once the server accepted the message.

    with SmtpMailer(smtp_settings(config)) as mailer:
        mailer.send(message)        # otherwise raises DeliveryError(temporary=..., text=...)

Two kinds of failure, and only the first is an attempt at the message:

- `DeliveryError` (counts_as_attempt): the server answered MAIL FROM, RCPT TO or DATA with a 4xx or
  5xx, or cannot take this message (SMTPRecipientsRefused, SMTPSenderRefused, SMTPDataError).
- `ServerUnavailable` (a DeliveryError that never counts): there was no session to hand the message
  to. `kind` says why: "unreachable" (connection refused, DNS, a timeout on connect, the reconnect
  failed), "refused" (the greeting or EHLO was a 4xx/5xx), "tls", "auth", "config" (the server lacks
  what NETFLOW_SMTP_URL asks for), or "dropped" (the connection was lost, or the reply timed out,
  while one message was being sent: the next `send` reconnects once). Every kind but "dropped"
  leaves nothing to send the next message over (`ends_session`).

`Mailer` is the port the senders use; `netflow.adapters.mail.fake.FakeMailer` stands in for it in tests.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from types import TracebackType
from typing import Protocol, Self

from netflow.adapters.mail.settings import CA_VAR, URL_VAR, SmtpSettings
from netflow.errors import DeliveryError

__all__ = ["UNAVAILABLE_KINDS", "DeliveryError", "Mailer", "ServerUnavailable", "SmtpMailer", "counts_as_attempt"]

log = logging.getLogger(__name__)

UNAVAILABLE_KINDS = frozenset(("unreachable", "refused", "tls", "auth", "config", "dropped"))


class ServerUnavailable(DeliveryError):
    """No SMTP session to hand a message to, so nothing was decided about any message: never an attempt.

    `reason` says what is wrong, `fix` what to do (names the setting); `text` is both, one line, no secret.
    `kind` is one of UNAVAILABLE_KINDS (see the module docstring); `temporary` keeps its meaning
    (worth retrying as it is: a server down, a connection lost; not a bad certificate or password)."""

    counts_as_attempt = False

    def __init__(self, kind: str, temporary: bool, reason: str, fix: str = "", code: int | None = None) -> None:
        if kind not in UNAVAILABLE_KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        super().__init__(temporary, f"{reason}; {fix}" if fix else reason, code)
        self.kind = kind
        self.reason = reason
        self.fix = fix

    @property
    def ends_session(self) -> bool:
        """True unless only the message in flight was lost ("dropped"): no later message can go now."""
        return self.kind != "dropped"

    def __repr__(self) -> str:
        return f"ServerUnavailable(kind={self.kind!r}, temporary={self.temporary!r}, text={self.text!r})"


def counts_as_attempt(error: DeliveryError) -> bool:
    """Whether `error` is the server's answer to the message itself (an attempt), not a missing session."""
    return not isinstance(error, ServerUnavailable)


class Mailer(Protocol):
    """The port: one connection for a run; `send` returns only once the server accepted the message."""

    def __enter__(self) -> Mailer: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """One SMTP connection for a whole run.

    If the connection drops, the next `send` reconnects once; if that fails too, every later
    send fails at once with that ServerUnavailable (the server is gone; retry the run)."""

    def __init__(self, settings: SmtpSettings, *, local_hostname: str | None = None) -> None:
        self.settings = settings
        self._local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self._open = False
        self._gone: ServerUnavailable | None = None

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
            if smtp.sock is None:
                self._drop()
            if 421 in codes:  # the server is closing the channel (smtplib has closed it): no answer to the message
                raise ServerUnavailable("dropped", True, f"SMTP server {where} closed the connection while "
                                        "sending (421 at RCPT TO); the message was not confirmed", code=421) from exc
            temporary = any(400 <= c < 500 for c in codes)
            raise DeliveryError(temporary, f"SMTP server {where} refused every recipient "
                                           f"(codes {sorted(set(codes))})", min(codes, default=None)) from exc
        except smtplib.SMTPResponseException as exc:  # SMTPSenderRefused, SMTPDataError, other replies
            if smtp.sock is None:  # smtplib closes the connection on 421
                self._drop()
            if exc.smtp_code == 421:  # the server is closing the channel: not an answer to the message
                raise ServerUnavailable("dropped", True, f"SMTP server {where} closed the connection while "
                                        f"sending ({_reply(exc)}); the message was not confirmed",
                                        code=exc.smtp_code) from exc
            raise DeliveryError(not 500 <= exc.smtp_code < 600,
                                f"SMTP server {where} refused the message: {_reply(exc)}", exc.smtp_code) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(False, f"SMTP server {where} cannot take this message: {exc}") from exc
        except OSError as exc:  # SMTPServerDisconnected, timeouts, resets
            self._drop()
            raise ServerUnavailable("dropped", True, f"connection to SMTP server {where} was lost while sending "
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
            raise self._gone
        log.info("reconnecting to SMTP server %s", self.settings.address)
        try:
            self._smtp = self._connect()
        except ServerUnavailable as exc:
            self._gone = ServerUnavailable(exc.kind, exc.temporary,
                                           f"{exc.reason} (reconnect failed; not trying again in this run)",
                                           exc.fix, exc.code)
            raise self._gone from exc
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
                    raise ServerUnavailable("config", False, f"SMTP server {s.address} does not offer STARTTLS",
                                            f"if it expects TLS from the start, use smtps:// in {URL_VAR}")
                smtp.starttls(context=s.ssl_context())
                smtp.ehlo()
            if s.username is not None and s.password is not None:
                smtp.login(s.username, s.password)
        except Exception as exc:
            if smtp is not None:
                smtp.close()
            if isinstance(exc, ServerUnavailable):
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


def _setup_error(exc: Exception, s: SmtpSettings) -> ServerUnavailable:
    """What went wrong while connecting, with what to do: never an attempt at any message."""
    where = s.address
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ServerUnavailable("tls", False, f"the TLS certificate of SMTP server {where} could not be verified "
                                 f"({exc.verify_message})", f"if the server uses its own CA, set {CA_VAR}")
    if isinstance(exc, ssl.SSLError):
        return ServerUnavailable("tls", False, f"TLS with SMTP server {where} failed ({exc.reason})",
                                 f"check the scheme and port in {URL_VAR} (smtps:// usually 465, "
                                 "smtp+starttls:// 587)")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return ServerUnavailable("auth", not 500 <= exc.smtp_code < 600,
                                 f"SMTP server {where} refused the login of user {s.username!r}: {_reply(exc)}",
                                 f"check the user name and password in {URL_VAR}", exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        return ServerUnavailable("refused", not 500 <= exc.smtp_code < 600,
                                 f"SMTP server {where} refused the connection: {_reply(exc)}",
                                 f"fix the server or {URL_VAR}", exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ServerUnavailable("config", False, f"SMTP server {where}: {exc}", f"check {URL_VAR}")
    if isinstance(exc, OSError):
        return ServerUnavailable("unreachable", True, f"could not connect to SMTP server {where} ({_os_reason(exc)})",
                                 f"fix {URL_VAR} or the server (is it running and reachable?)")
    return ServerUnavailable("unreachable", True, f"could not set up the connection to SMTP server {where} "
                             f"({type(exc).__name__})", f"fix {URL_VAR} or the server")


def _reply(exc: smtplib.SMTPResponseException) -> str:
    raw = exc.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{exc.smtp_code} {' '.join(text.split())[:200]}"


def _os_reason(exc: OSError) -> str:
    """"connection refused", "timed out", "name or service not known": the OS's words, lower case."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:] if text[1:2].islower() else text

