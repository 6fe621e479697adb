"""Delivery: one SMTP connection for a run; `send` returns only once the server accepted the message.

    with SmtpMailer(smtp_settings(config)) as mailer:
        mailer.send(message)        # otherwise raises DeliveryError(temporary=..., text=...)

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

__all__ = ["DeliveryError", "Mailer", "SmtpMailer"]

log = logging.getLogger(__name__)


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

