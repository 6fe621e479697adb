"""What follow-up actions do to the events decide_events chose, one boundary per test. Pure."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from netflow.domain import evaluate
from netflow.domain.events import NewEvent, PastEvent, decide_events
from netflow.domain.followups import FollowUp
from netflow.guidelines import load_rulebook
from netflow.reminders.follow_ups import SUPPRESSED, apply_follow_ups
from tests.support.records import record, scan

BOOK = load_rulebook()
PID = "T001"
# High-risk pancreas, CT 2025-11-20: the window opens and closes 2026-05-20, overdue from 2026-06-20.
HIGH = record(nodes_positive=2, imaging=[scan("2025-11-20")])


def action(id: int, kind: str, withdraws: int | None = None, **fields: Any) -> FollowUp:
    values: dict[str, Any] = {"date": None, "until": None, "modality": None, "reason": None, "note": None}
    values.update(fields)
    return FollowUp(id=id, patient_id=PID, care_team="gi-onc-east", action=kind, withdraws=withdraws,
                    recorded_by="jdoe", recorded_at=datetime(2026, 6, 1, 9, tzinfo=UTC), **values)


def applied(day: str, *actions: FollowUp, past: list[PastEvent] | None = None,
            raw: dict[str, Any] = HIGH) -> tuple[list[str], int]:
    """The kinds recorded on `day` with these actions, and how many were held back."""
    evaluation = evaluate(raw, date.fromisoformat(day), BOOK)
    history = past or []
    counts: Counter[str] = Counter()
    events: list[NewEvent] = apply_follow_ups(evaluation, history, decide_events(evaluation, history),
                                              {PID: list(actions)}, BOOK, counts)
    return [e.kind for e in events], counts[SUPPRESSED]


BOOKED = action(1, "scan_booked", date=date(2026, 7, 1))


def test_without_actions_the_events_pass_unchanged() -> None:
    assert applied("2026-06-25") == (["overdue", "high_risk"], 0)


def test_a_booking_holds_back_the_window_events_but_not_the_high_risk_flag() -> None:
    assert applied("2026-06-25", BOOKED) == (["high_risk"], 1)


def test_a_booking_holds_through_its_date_plus_grace_and_lapses_the_day_after() -> None:
    assert applied("2026-07-31", BOOKED) == (["high_risk"], 1)
    assert applied("2026-08-01", BOOKED) == (["overdue", "high_risk", "booking_lapsed"], 0)


def test_a_lapse_already_recorded_is_not_recorded_again() -> None:
    past = [PastEvent("booking_lapsed", "2026-05-20/2026-07-01"),
            PastEvent("overdue", "2026-05-20", date(2025, 11, 20), date(2026, 5, 20))]
    assert applied("2026-08-02", BOOKED, past=past) == (["high_risk"], 0)


def test_a_booking_for_a_date_long_before_the_window_opens_does_not_cover_it() -> None:
    early = action(1, "scan_booked", date=date(2026, 3, 1))  # + lead 30 days < 2026-05-20
    assert applied("2026-06-25", early) == (["overdue", "high_risk"], 0)


def test_a_booking_does_not_cover_the_window_a_newer_scan_opened() -> None:
    scanned = record(nodes_positive=2, imaging=[scan("2025-11-20"), scan("2026-07-01")])  # next window 2027-01-01
    assert applied("2027-01-05", BOOKED, raw=scanned) == (["due", "high_risk"], 0)


def test_a_withdrawn_booking_holds_nothing_back() -> None:
    assert applied("2026-06-25", BOOKED, action(2, "withdrawn", withdraws=1)) == (["overdue", "high_risk"], 0)


def test_a_deferral_holds_back_every_reminder_until_its_date_but_not_a_closure() -> None:
    deferred = action(1, "deferred", until=date(2026, 8, 1), reason="abroad")
    assert applied("2026-07-31", deferred) == ([], 2)
    assert applied("2026-08-01", deferred) == (["overdue", "high_risk"], 0)
    scanned = record(nodes_positive=2, imaging=[scan("2025-11-20"), scan("2026-07-01")])
    past = [PastEvent("overdue", "2026-05-20", date(2025, 11, 20), date(2026, 5, 20))]
    assert applied("2026-07-02", deferred, past=past, raw=scanned) == (["closed"], 1)  # high_risk held back


def test_contacted_and_notes_hold_nothing_back() -> None:
    assert applied("2026-06-25", action(1, "contacted"), action(2, "note", note="x")) == (["overdue", "high_risk"], 0)
