"""Send the outbox over one SMTP connection; mark each message sent only once the server accepted it.

Sending holds the "send" lock; before each message it checks the lock is still its own, so a run
that lost its database session stops (LockLost) instead of sending beside the run that took over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage

from sqlalchemy import Engine

from netflow.adapters import ledger
from netflow.adapters.ledger import OutboxMessage
from netflow.adapters.locks import exclusive
from netflow.adapters.mail import DeliveryError, Mailer, build_message

__all__ = ["SendResult", "send_pending", "to_email"]


@dataclass
class SendResult:
    """Counts, and one line per problem naming the outbox id and team (no patient data)."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.retrying == 0 and self.failed == 0


def to_email(message: OutboxMessage) -> EmailMessage:
    return build_message(sender=message.sender, to=message.to, cc=message.cc, subject=message.subject,
                         text=message.body_text, html=message.body_html, message_id=message.message_id)


def _failed(engine: Engine, message: OutboxMessage, error: str, max_attempts: int, result: SendResult) -> None:
    with engine.begin() as conn:
        status = ledger.mark_attempt_failed(conn, message.id, error, max_attempts)
    if status == "failed":
        result.failed += 1
    else:
        result.retrying += 1
    who = message.team_key or "data steward"
    result.problems.append(f"outbox {message.id} ({who}): {status} after attempt {message.attempts + 1}: {error}")


def send_pending(engine: Engine, mailer: Callable[[], Mailer], max_attempts: int,
                 teams: Iterable[str] | None = None) -> SendResult:
    """Send every pending message; a failure keeps its error and attempt count and the rest still go."""
    result = SendResult()
    with exclusive(engine, "send") as lock:
        with engine.connect() as conn:
            pending = ledger.pending_messages(conn, teams)
        if not pending:
            return result
        try:
            with mailer() as smtp:
                for message in pending:
                    lock.check()  # a run whose lock session ended stops here: another run may hold it now
                    try:
                        smtp.send(to_email(message))
                    except DeliveryError as exc:
                        _failed(engine, message, exc.text, max_attempts, result)
                        continue
                    except ValueError as exc:  # a stored envelope that cannot be sent: never retried
                        _failed(engine, message, f"cannot build the message: {exc}", 1, result)
                        continue
                    with engine.begin() as conn:
                        ledger.mark_sent(conn, message.id)
                    result.sent += 1
        except DeliveryError as exc:  # could not connect at all: every message waits for the next attempt
            for message in pending[result.sent + result.retrying + result.failed:]:
                _failed(engine, message, exc.text, max_attempts, result)
    return result
