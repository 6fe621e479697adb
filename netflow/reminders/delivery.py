"""Send messages over one SMTP connection; a message counts as sent only once the server accepted it.

    result = send_pending(db, mailer, max_attempts=5)           # the outbox: digests and steward digests
    deliver(letters, build, mailer, sent=..., failed=...)       # the loop itself (the weekly reports use it)

Sending the outbox holds the "send" lock; before each message it checks the lock is still its own,
so a run that lost its database session stops (LockLost) instead of sending beside the run that
took over. A message is marked sent in its own transaction right after the server accepted it: a
crash in between resends that one message, with the same Message-ID, which mail systems drop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TypeVar

from netflow.adapters.database import Database
from netflow.adapters.ledger import OutboxMessage
from netflow.adapters.mail import DeliveryError, MailerFactory, build_message

__all__ = ["SendResult", "deliver", "send_pending", "to_email"]

T = TypeVar("T")


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

    def as_counts(self) -> dict[str, int]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed}

    def raise_if_undelivered(self) -> SendResult:
        """DeliveryError (temporary: a retry sends what is left) when any message was not delivered."""
        if not self.ok:
            raise DeliveryError(True, f"{self.retrying + self.failed} message(s) not delivered ({self.as_counts()}); "
                                      "they stay in the outbox: " + "; ".join(self.problems))
        return self


def to_email(message: OutboxMessage) -> EmailMessage:
    return build_message(sender=message.sender, to=message.to, cc=message.cc, subject=message.subject,
                         text=message.body_text, html=message.body_html, message_id=message.message_id)


def deliver(items: Sequence[T], build: Callable[[T], EmailMessage], mailer: MailerFactory, *,
            sent: Callable[[T], None], failed: Callable[[T, str, bool], None],
            before_each: Callable[[], None] = lambda: None) -> None:
    """Send each item's message over one connection, in order; a failure is reported and the rest still go.

    `failed(item, error, permanent)`: `permanent` when the message itself cannot be built (a stored
    envelope that is not valid), which no retry will fix. When the server cannot be reached at all,
    every item not yet tried fails with that error (temporary)."""
    done = 0
    try:
        with mailer() as smtp:
            for item in items:
                before_each()
                try:
                    smtp.send(build(item))
                except DeliveryError as exc:
                    failed(item, exc.text, False)
                except ValueError as exc:
                    failed(item, f"cannot build the message: {exc}", True)
                else:
                    sent(item)
                done += 1
    except DeliveryError as exc:  # could not connect at all: every message waits for the next attempt
        for item in items[done:]:
            failed(item, exc.text, False)


def send_pending(db: Database, mailer: MailerFactory, max_attempts: int,
                 teams: Iterable[str] | None = None) -> SendResult:
    """Send every pending outbox message; a failure keeps its error and attempt count and the rest still go."""
    result = SendResult()

    def sent(message: OutboxMessage) -> None:
        db.ledger.mark_sent(message.id)
        result.sent += 1

    def failed(message: OutboxMessage, error: str, permanent: bool) -> None:
        status = db.ledger.mark_attempt_failed(message.id, error, 1 if permanent else max_attempts)
        if status == "failed":
            result.failed += 1
        else:
            result.retrying += 1
        who = message.team_key or "data steward"
        result.problems.append(f"outbox {message.id} ({who}): {status} after attempt {message.attempts + 1}: "
                               f"{error}")

    with db.exclusive("send") as lock:
        pending = db.ledger.pending_messages(teams)
        if pending:
            # a run whose lock session ended stops before its next message: another run may hold it now
            deliver(pending, to_email, mailer, sent=sent, failed=failed, before_each=lock.check)
    return result
