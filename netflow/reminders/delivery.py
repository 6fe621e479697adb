"""Send messages over one SMTP connection; a message counts as sent only once the server accepted it.

    result = send_pending(db, mailer, max_attempts=5)           # the outbox: digests and steward digests
    deliver(letters, build, mailer, sent=..., failed=..., held=...)   # the loop itself (the weekly reports use it)

Only the server's answer to the message itself is an attempt: a 4xx or 5xx to MAIL FROM, RCPT TO or
DATA (`failed`; after `max_attempts` of them a message is `failed` for good). When there is no session
to send over (the server cannot be reached, TLS or the login fails, the connection drops mid-send)
nothing was decided about the message: it stays pending with its attempts unchanged and the error
noted (`held`), so an outage of any length loses nothing. An outage also stops the loop: the messages
not yet tried are held at once, and the run fails with one line saying what is wrong and what to do
(`SendResult.outage`).

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
from netflow.adapters.mail import DeliveryError, MailerFactory, ServerUnavailable, build_message
from netflow.adapters.outbox import OutboxMessage

__all__ = ["SendResult", "deliver", "outage_line", "send_pending", "to_email"]

T = TypeVar("T")


@dataclass
class SendResult:
    """Counts, and one line per problem naming the outbox id and team (no patient data).

    `retrying`: messages still pending after this run (the next attempt sends them); `held` of them were
    left without an attempt counted (no session to send over). `outage`: set when the run stopped
    because the server could not be used; it says what is wrong and what to do."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0
    problems: list[str] = field(default_factory=list)
    outage: str | None = None

    @property
    def ok(self) -> bool:
        return self.retrying == 0 and self.failed == 0 and self.outage is None

    def as_counts(self) -> dict[str, int]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed}

    def raise_if_undelivered(self) -> SendResult:
        """DeliveryError (temporary: a retry sends what is left) when any message was not delivered; after an
        outage its message is the outage line."""
        if self.outage is not None:
            raise DeliveryError(True, self.outage)
        if not self.ok:
            raise DeliveryError(True, f"{self.retrying + self.failed} message(s) not delivered ({self.as_counts()}); "
                                      "they stay in the outbox: " + "; ".join(self.problems))
        return self


def to_email(message: OutboxMessage) -> EmailMessage:
    return build_message(sender=message.sender, to=message.to, cc=message.cc, subject=message.subject,
                         text=message.body_text, html=message.body_html, message_id=message.message_id)


def outage_line(error: ServerUnavailable, sent: int, held: int, what: str = "message",
                kept: str = "pending, attempts unchanged") -> str:
    """The one line a run that stopped on `error` fails with: what is wrong, what became of the messages
    (`sent` before it; `held`: left `kept`, no attempt counted), and what to do. E.g. "could not connect to
    SMTP server 127.0.0.1:2525 (connection refused): nothing was sent, every message stays pending, attempts
    unchanged (3); fix NETFLOW_SMTP_URL or the server (is it running and reachable?), then run again"."""
    if sent == 0:
        done = f"nothing was sent, every {what} stays {kept} ({held})"
    else:
        done = f"{sent} {what}(s) sent before it, the other {held} stay {kept}"
    fix = f"{error.fix}, then run again" if error.fix else "run again once the server is back"
    return f"{error.reason}: {done}; {fix}"


def deliver(items: Sequence[T], build: Callable[[T], EmailMessage], mailer: MailerFactory, *,
            sent: Callable[[T], None], failed: Callable[[T, str, bool], None],
            held: Callable[[Sequence[T], str], None],
            before_each: Callable[[], None] = lambda: None) -> ServerUnavailable | None:
    """Send each item's message over one connection, in order. Each item ends in exactly one callback:

    - `sent(item)`: the server accepted it;
    - `failed(item, error, permanent)`: an attempt that failed. The server refused the message itself
      (a 4xx or 5xx to MAIL FROM, RCPT TO or DATA), or, with `permanent`, the message cannot be built
      from what is stored (no retry will fix that);
    - `held(items, error)`: no attempt. The connection was lost while this item was in flight (the next
      item reconnects once), or there is no session at all (cannot connect, TLS, login, the reconnect
      failed): then this item and every item not yet tried are held together and the loop stops.

    Returns the ServerUnavailable that stopped the loop, or None when every item was tried."""
    done = 0
    try:
        with mailer() as smtp:
            for item in items:
                before_each()
                _send_one(smtp.send, build, item, sent=sent, failed=failed, held=held)
                done += 1
    except ServerUnavailable as exc:  # no session: nothing more can go now; what is left waits, uncounted
        held(items[done:], exc.text)
        return exc
    return None


def _send_one(send: Callable[[EmailMessage], None], build: Callable[[T], EmailMessage], item: T, *,
              sent: Callable[[T], None], failed: Callable[[T, str, bool], None],
              held: Callable[[Sequence[T], str], None]) -> None:
    """One item: sent, failed (an attempt) or held (the connection dropped under it); an outage propagates."""
    try:
        message = build(item)
    except ValueError as exc:
        failed(item, f"cannot build the message: {exc}", True)
        return
    try:
        send(message)
    except ServerUnavailable as exc:
        if exc.ends_session:
            raise
        held([item], exc.text)
    except DeliveryError as exc:
        failed(item, exc.text, False)
    else:
        sent(item)


def send_pending(db: Database, mailer: MailerFactory, max_attempts: int,
                 teams: Iterable[str] | None = None) -> SendResult:
    """Send every pending outbox message. A refusal keeps its error and counts an attempt, and the rest still
    go; without a session (an outage) every message not sent stays pending, uncounted, and `outage` says why."""
    result = SendResult()

    def sent(message: OutboxMessage) -> None:
        db.outbox.mark_sent(message.id)
        result.sent += 1

    def failed(message: OutboxMessage, error: str, permanent: bool) -> None:
        status = db.outbox.mark_attempt_failed(message.id, error, 1 if permanent else max_attempts)
        if status == "failed":
            result.failed += 1
        else:
            result.retrying += 1
        who = message.team_key or "data steward"
        result.problems.append(f"outbox {message.id} ({who}): {status} after attempt {message.attempts + 1}: "
                               f"{error}")

    def held(messages: Sequence[OutboxMessage], error: str) -> None:
        if not messages:
            return
        db.outbox.note_error([m.id for m in messages], error)
        result.retrying += len(messages)
        result.held += len(messages)
        ids = ", ".join(str(m.id) for m in messages[:10]) + (", ..." if len(messages) > 10 else "")
        result.problems.append(f"outbox {ids}: still pending, no attempt counted: {error}")

    with db.exclusive("send") as lock:
        pending = db.outbox.pending_messages(teams)
        if pending:
            # a run whose lock session ended stops before its next message: another run may hold it now
            outage = deliver(pending, to_email, mailer, sent=sent, failed=failed, held=held,
                             before_each=lock.check)
            if outage is not None:
                result.outage = outage_line(outage, result.sent, result.held)
    return result
