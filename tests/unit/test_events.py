"""Which events a run records: the most severe new one per window, flags once, closures."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from netflow.domain import Evaluation, evaluate
from netflow.domain.events import NewEvent, PastEvent, decide_events
from netflow.guidelines import load_rulebook
from tests.support.records import low_risk, record, scan

BOOK = load_rulebook()
# High-risk pancreas, CT 2025-11-20: the window opens and closes 2026-05-20.
HIGH = record(nodes_positive=2, imaging=[scan("2025-11-20")])
OPEN = date(2026, 5, 20)


def ev(raw: dict[str, Any], as_of: date) -> Evaluation:
    return evaluate(raw, as_of, BOOK)


def as_past(events: list[NewEvent]) -> list[PastEvent]:
    return [PastEvent(e.kind, e.key, _d(e.payload.get("last_scan")), _d(e.payload.get("window_close")))
            for e in events]


def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def kinds(events: list[NewEvent]) -> list[str]:
    return [e.kind for e in events]


def test_a_patient_first_seen_120_days_overdue_gets_one_escalated_event() -> None:
    events = decide_events(ev(HIGH, OPEN + timedelta(days=150)), [])
    assert kinds(events) == ["escalated", "high_risk"]
    assert events[0].key == "2026-05-20"


def test_each_severity_is_recorded_once_as_the_window_ages() -> None:
    history: list[PastEvent] = []
    seen = []
    for as_of in [OPEN - timedelta(days=40), OPEN - timedelta(days=10), OPEN - timedelta(days=5), OPEN,
                  OPEN + timedelta(days=45), OPEN + timedelta(days=60), OPEN + timedelta(days=125)]:
        new = decide_events(ev(HIGH, as_of), history)
        history += as_past(new)
        seen += [e.kind for e in new if e.kind != "high_risk"]
    assert seen == ["due_soon", "due", "overdue", "escalated"]


def test_severity_never_goes_back_down_within_a_window() -> None:
    history = as_past(decide_events(ev(HIGH, OPEN + timedelta(days=150)), []))
    assert decide_events(ev(HIGH, OPEN), history) == []


def test_rerunning_the_same_date_records_nothing() -> None:
    first = decide_events(ev(HIGH, OPEN), [])
    assert decide_events(ev(HIGH, OPEN), as_past(first)) == []


def test_the_high_risk_flag_is_recorded_again_only_when_the_reasons_change() -> None:
    history = as_past(decide_events(ev(HIGH, OPEN), []))
    assert kinds(decide_events(ev({**HIGH, "ki67_percent": 12}, OPEN), history)) == ["high_risk"]
    assert decide_events(ev({**HIGH, "margin": "R0"}, OPEN), history) == []


def test_a_new_scan_closes_a_window_that_had_events() -> None:
    history = as_past(decide_events(ev(HIGH, OPEN + timedelta(days=40)), []))
    scanned = {**HIGH, "imaging": [*HIGH["imaging"], scan("2026-07-01")]}

    new = decide_events(ev(scanned, date(2026, 7, 2)), history)

    assert kinds(new) == ["closed"]
    assert (new[0].key, new[0].payload["closed_by_scan"]) == ("2026-05-20", "2026-07-01")


def test_a_closed_window_is_not_closed_twice() -> None:
    history = as_past(decide_events(ev(HIGH, OPEN + timedelta(days=40)), []))
    scanned = {**HIGH, "imaging": [*HIGH["imaging"], scan("2026-07-01")]}
    history += as_past(decide_events(ev(scanned, date(2026, 7, 2)), history))
    assert "closed" not in kinds(decide_events(ev(scanned, date(2026, 7, 3)), history))


def test_a_window_without_events_is_not_closed() -> None:
    scanned = {**HIGH, "imaging": [*HIGH["imaging"], scan("2026-07-01")]}
    assert "closed" not in kinds(decide_events(ev(scanned, date(2026, 7, 2)), []))


def test_not_due_records_no_window_event() -> None:
    assert decide_events(ev(record(imaging=[scan("2026-11-01")]), date(2026, 12, 1)), []) == []


def test_needs_review_is_recorded_once_with_its_reason() -> None:
    first = decide_events(ev(record(hereditary_syndrome="MEN1"), date(2026, 12, 1)), [])
    assert [(e.kind, e.key) for e in first] == [("needs_review", "hereditary_syndrome")]
    assert decide_events(ev(record(hereditary_syndrome="MEN1"), date(2026, 12, 2)), as_past(first)) == []


def test_not_indicated_is_told_once() -> None:
    first = decide_events(ev(low_risk(primary_site="appendix", tumor_size_mm=8), date(2026, 12, 1)), [])
    assert [(e.kind, e.key) for e in first] == [("not_indicated", "")]
    assert decide_events(ev(low_risk(primary_site="appendix", tumor_size_mm=8), date(2027, 1, 1)), as_past(first)) == []


def test_invalid_and_inactive_records_record_nothing() -> None:
    assert decide_events(ev(record(grade=7), date(2026, 12, 1)), []) == []
    assert decide_events(ev(record(status="deceased"), date(2026, 12, 1)), []) == []


def test_event_payload_is_the_evaluation_without_patient_names() -> None:
    event = decide_events(ev(HIGH, OPEN), [])[0]
    assert event.payload["status"] == "due" and "name" not in event.payload
