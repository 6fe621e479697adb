"""Email out, one module per concern: settings (where, from whom), message (what), smtp (delivery), fake.

    factory = mailer_factory(config)        # the installation's mailer; ConfigError at once if misconfigured
    message = build_message(sender=config.mail_from, to=navigators, cc=attendings, subject=subject,
                            text=text, html=html, message_id=make_message_id(outbox_id, "netflow.example.org"))
    with factory() as mailer:
        mailer.send(message)                # returns only once the server accepted the message;
                                            # otherwise raises DeliveryError(temporary=..., text=...)

A DeliveryError is the server's answer to the message (an attempt at it); its subclass
ServerUnavailable means there was no session to send it over (server unreachable, TLS, login,
connection lost): never an attempt (`counts_as_attempt(error)`). See `smtp`.

`FakeMailer` has the same interface for tests of other code; `write_eml` writes a message to a
file a person can open (dry runs). No header is built from text that was not checked here, and
no error message or repr ever holds the SMTP password.
"""

from __future__ import annotations

from collections.abc import Callable

from netflow.adapters.mail.fake import FakeMailer
from netflow.adapters.mail.message import build_message, make_message_id, parse_address, write_eml
from netflow.adapters.mail.settings import (
    DEFAULT_PORTS,
    SmtpSettings,
    check_addresses,
    message_domain,
    parse_smtp_url,
    smtp_settings,
)
from netflow.adapters.mail.smtp import Mailer, ServerUnavailable, SmtpMailer, counts_as_attempt
from netflow.config import Settings
from netflow.errors import DeliveryError

__all__ = [
    "DEFAULT_PORTS",
    "DeliveryError",
    "FakeMailer",
    "Mailer",
    "MailerFactory",
    "ServerUnavailable",
    "SmtpMailer",
    "SmtpSettings",
    "build_message",
    "check_addresses",
    "counts_as_attempt",
    "mailer_factory",
    "make_message_id",
    "message_domain",
    "parse_address",
    "parse_smtp_url",
    "smtp_settings",
    "write_eml",
]

MailerFactory = Callable[[], Mailer]


def mailer_factory(config: Settings) -> MailerFactory:
    """The installation's mailer, one SMTP connection per call of the factory.

    Everything is checked now (ConfigError): the SMTP URL, and the sender and steward addresses."""
    settings = smtp_settings(config)
    check_addresses(config)
    return lambda: SmtpMailer(settings)
