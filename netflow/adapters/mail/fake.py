"""The test double of the Mailer port: keeps every accepted message; fails on request."""

from __future__ import annotations

from email.message import EmailMessage
from types import TracebackType
from typing import Self

from netflow.adapters.mail.smtp import ServerUnavailable
from netflow.errors import DeliveryError

__all__ = ["FakeMailer"]


class FakeMailer:
    """Stands in for SmtpMailer in tests of other code: keeps every accepted message in `sent`.

        mailer = FakeMailer().fail(2, temporary=False)     # the 2nd send is refused (an attempt), the others pass
        mailer = FakeMailer().drop(2)                      # the 2nd send loses the connection (no attempt)
        mailer = FakeMailer().fail_connect()               # the server cannot be reached (ServerUnavailable)
        with mailer:
            ...
        assert [m["Message-ID"] for m in mailer.sent] == [...]
    """

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.attempts = 0
        self.connections = 0
        self._failures: dict[int, DeliveryError] = {}
        self._connect_failure: ServerUnavailable | None = None
        self._open = False

    def fail(self, nth: int, *, temporary: bool = False, text: str = "550 rejected by FakeMailer") -> Self:
        """Make the nth send (counting from 1, over the mailer's life) a refusal of the message: DeliveryError."""
        self._failures[nth] = DeliveryError(temporary, text)
        return self

    def drop(self, nth: int, *, text: str = "connection lost while sending (FakeMailer)") -> Self:
        """Make the nth send lose its connection: ServerUnavailable("dropped"), not an attempt."""
        self._failures[nth] = ServerUnavailable("dropped", True, text)
        return self

    def fail_connect(self, *, temporary: bool = True, text: str = "could not connect (FakeMailer)") -> Self:
        """Make entering the with-block raise ServerUnavailable("unreachable"), as when the server is down."""
        self._connect_failure = ServerUnavailable("unreachable", temporary, text)
        return self

    def __enter__(self) -> Self:
        if self._connect_failure is not None:
            raise self._connect_failure
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
            raise failure
        self.sent.append(message)
