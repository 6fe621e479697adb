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


# A rules update: each changed plan told once, as such ---------------------------------------------

V2 = "v2.2025; netflow rules v2"
APPENDIX_15MM = low_risk(primary_site="appendix", tumor_size_mm=15, resection_date="2020-03-15")


def told_under_v1(kind: str, key: str, plan: str, as_of: date = date(2026, 11, 2)) -> PastEvent:
    """An event recorded by netflow before rules v2 (no rules version in its payload)."""
    return PastEvent(kind, key, plan=plan, rules_version=None, as_of=as_of)


def test_a_plan_the_rules_update_changed_is_told_once_with_the_old_and_new_plan() -> None:
    evaluation = ev(APPENDIX_15MM, date(2026, 12, 1))  # v1: not indicated; v2: the optional schedule
    past = [told_under_v1("not_indicated", "", "nccn/extrapancreatic/low")]

    first = decide_events(evaluation, past, V2)

    changed = [e for e in first if e.kind == "plan_changed"]
    assert len(changed) == 1 and changed[0].key == V2
    assert changed[0].payload["previous_plan"] == "nccn/extrapancreatic/low"
    assert changed[0].payload["explanation"].startswith("The surveillance rules were updated")
    again = past + [PastEvent(e.kind, e.key, plan=e.payload.get("rule_id"), rules_version=V2,
                              as_of=date(2026, 12, 1)) for e in first]
    assert "plan_changed" not in kinds(decide_events(ev(APPENDIX_15MM, date(2026, 12, 2)), again, V2))


def test_a_plan_the_update_left_alone_is_not_told() -> None:
    evaluation = ev(HIGH, OPEN)
    past = [told_under_v1("due", OPEN.isoformat(), "nccn/pancreas/high")]
    assert "plan_changed" not in kinds(decide_events(evaluation, past, V2))


def test_a_plan_changed_by_new_pathology_under_the_same_rules_is_not_a_rules_update() -> None:
    evaluation = ev(HIGH, OPEN)
    past = [PastEvent("due", "2026-01-01", plan="nccn/pancreas/standard", rules_version=V2, as_of=date(2026, 1, 1))]
    assert "plan_changed" not in kinds(decide_events(evaluation, past, V2))


def test_the_plan_is_compared_with_the_latest_event() -> None:
    evaluation = ev(APPENDIX_15MM, date(2026, 12, 1))
    past = [told_under_v1("not_indicated", "", "nccn/extrapancreatic/low", date(2024, 1, 1)),
            told_under_v1("due", "2026-01-01", "nccn/appendix/optional", date(2026, 11, 1))]
    assert "plan_changed" not in kinds(decide_events(evaluation, past, V2))


def test_a_neuroendocrine_carcinoma_already_told_under_v1_is_not_told_again_under_its_new_code() -> None:
    evaluation = ev(record(differentiation="poor"), date(2026, 12, 1))
    assert evaluation.review_reasons == ("poorly_differentiated",)
    assert decide_events(evaluation, [told_under_v1("needs_review", "nec", "needs_review")], V2) == []


def test_every_event_keeps_the_rules_version_it_was_decided_under() -> None:
    events = decide_events(ev(HIGH, OPEN + timedelta(days=150)), [], V2)
    assert {e.payload["rules_version"] for e in events} == {V2}
