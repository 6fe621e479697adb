"""The one send loop (`deliver`) and what counts as an attempt, with the FakeMailer (issue 16).

Each item ends in exactly one callback: sent, failed (an attempt: the server refused the message, or it
cannot be built) or held (no attempt: the connection dropped under it, or there is no session at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from email.message import EmailMessage

import pytest

from netflow.adapters.mail import DeliveryError, FakeMailer, ServerUnavailable, build_message, counts_as_attempt
from netflow.domain.metrics import steward_metrics, steward_report
from netflow.reminders.delivery import SendResult, deliver, outage_line


def build(n: int) -> EmailMessage:
    if n < 0:
        raise ValueError("not a valid address")
    return build_message(sender="netflow@hospital.example", to=["nav@hospital.example"], subject=f"digest {n}",
                         text="t", html="<p>t</p>", message_id=f"<digest-{n}@hospital.example>")


class Outcome:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.failed: list[tuple[int, bool]] = []
        self.held: list[tuple[list[int], str]] = []

    def on_sent(self, n: int) -> None:
        self.sent.append(n)

    def on_failed(self, n: int, _error: str, permanent: bool) -> None:
        self.failed.append((n, permanent))

    def on_held(self, items: Sequence[int], error: str) -> None:
        self.held.append((list(items), error))


def run(items: list[int], mailer: FakeMailer) -> tuple[Outcome, ServerUnavailable | None]:
    outcome = Outcome()
    stopped = deliver(items, build, lambda: mailer, sent=outcome.on_sent, failed=outcome.on_failed,
                      held=outcome.on_held)
    return outcome, stopped


def test_a_refusal_is_an_attempt_and_the_rest_still_go() -> None:
    outcome, stopped = run([1, 2, 3], FakeMailer().fail(2, text="550 no"))

    assert (outcome.sent, outcome.failed, outcome.held, stopped) == ([1, 3], [(2, False)], [], None)


def test_a_message_that_cannot_be_built_is_a_permanent_failure() -> None:
    outcome, _ = run([1, -1, 3], FakeMailer())

    assert (outcome.sent, outcome.failed) == ([1, 3], [(-1, True)])


def test_a_dropped_connection_holds_only_that_message_and_the_loop_goes_on() -> None:
    outcome, stopped = run([1, 2, 3], FakeMailer().drop(2))

    assert (outcome.sent, outcome.failed, stopped) == ([1, 3], [], None)
    assert [items for items, _ in outcome.held] == [[2]]


def test_a_server_that_cannot_be_reached_holds_every_message_at_once_and_stops() -> None:
    mailer = FakeMailer().fail_connect(text="could not connect to SMTP server x:25 (connection refused)")

    outcome, stopped = run([1, 2, 3], mailer)

    assert (outcome.sent, outcome.failed) == ([], [])
    assert outcome.held == [([1, 2, 3], "could not connect to SMTP server x:25 (connection refused)")]
    assert stopped is not None and stopped.kind == "unreachable" and not counts_as_attempt(stopped)


def test_an_outage_after_some_messages_holds_the_rest_without_trying_them() -> None:
    class DiesAfterOne(FakeMailer):
        def send(self, message: EmailMessage) -> None:
            if self.attempts >= 1:
                self.attempts += 1
                raise ServerUnavailable("unreachable", True, "the reconnect failed", "fix NETFLOW_SMTP_URL")
            super().send(message)

    mailer = DiesAfterOne()
    outcome, stopped = run([1, 2, 3], mailer)

    assert outcome.sent == [1] and [items for items, _ in outcome.held] == [[2, 3]]
    assert mailer.attempts == 2  # 3 was never tried
    assert stopped is not None
    assert outage_line(stopped, 1, 2) == ("the reconnect failed: 1 message(s) sent before it, the other 2 stay "
                                          "pending, attempts unchanged; fix NETFLOW_SMTP_URL, then run again")


@pytest.mark.parametrize(("error", "counts"), [
    (DeliveryError(False, "550 refused"), True),
    (DeliveryError(True, "451 later"), True),
    (ServerUnavailable("unreachable", True, "down"), False),
    (ServerUnavailable("tls", False, "bad certificate"), False),
    (ServerUnavailable("auth", False, "bad login"), False),
    (ServerUnavailable("dropped", True, "lost"), False),
])
def test_only_the_servers_answer_to_the_message_counts_as_an_attempt(error: DeliveryError, counts: bool) -> None:
    assert counts_as_attempt(error) is counts
    assert isinstance(error, DeliveryError)  # the CLI maps every one to exit 1


def test_an_outage_fails_the_run_with_its_own_line() -> None:
    line = "could not connect to SMTP server x:25: nothing was sent; fix it, then run again"
    result = SendResult(retrying=3, held=3, outage=line)

    assert not result.ok
    with pytest.raises(DeliveryError) as caught:
        result.raise_if_undelivered()
    assert str(caught.value) == line


def test_the_stewards_report_names_undelivered_digests_only_when_there_are_some() -> None:
    as_of = date(2026, 12, 7)
    quiet = steward_metrics({}, as_of, 0)
    stuck = steward_metrics({}, as_of, 0, pending_digests=2, failed_digests=1)

    assert not quiet.anything and stuck.anything
    report = steward_report(stuck, run_id="r", worklist_url="https://netflow.hospital.example/worklist")
    section = report.sections[-1]
    assert section.title == "Digests not delivered"
    assert [(line.label, line.value) for line in section.lines] == [("Waiting to be sent", "2"), ("Failed", "1")]
    assert "3 digests not delivered" in report.summary
    plain = steward_report(steward_metrics({}, as_of, 4), run_id="r",
                           worklist_url="https://netflow.hospital.example/worklist")
    assert [s.title for s in plain.sections] == ["Data quality, all care teams"]
