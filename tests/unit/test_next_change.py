"""next_change: the first date on which a patient's evaluation can change, one boundary per test, and the
property that nothing changes before it (random records, random dates)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netflow.domain import Evaluation, evaluate
from netflow.domain.changes import next_change, rules_fingerprint, standing_of
from netflow.domain.record import MODALITIES, parse_record
from netflow.guidelines import load_rulebook
from tests.support.records import record, scan

BOOK = load_rulebook()
D = date(2026, 12, 1)
DAY = timedelta(days=1)


def changes_on(raw: dict[str, Any], as_of: date = D) -> date | None:
    parsed, errors = parse_record(raw, BOOK.ids)
    assert parsed is not None, errors
    evaluation = evaluate(raw, as_of, BOOK)
    return next_change(parsed, evaluation, BOOK[evaluation.guideline or BOOK.default])


def decision(evaluation: Evaluation) -> tuple[Any, ...]:
    """Everything of an evaluation but what is derived from the date alone (days overdue, the wording)."""
    out = evaluation.to_dict()
    for derived in ("as_of", "days_overdue", "explanation"):
        out.pop(derived)
    return tuple(sorted((k, repr(v)) for k, v in out.items()))


# Window boundaries (lead 30 days, grace 30 days, escalation at 90 days overdue) ------------------

def test_a_patient_not_due_changes_when_the_reminder_lead_begins() -> None:
    raw = record(imaging=[scan("2026-10-01")])  # nccn pancreas standard: 6-12 months, opens 2027-04-01
    assert changes_on(raw) == date(2027, 3, 2)  # 30 days before the window opens
    assert evaluate(raw, date(2027, 3, 2), BOOK).status == "due_soon"
    assert evaluate(raw, date(2027, 3, 1), BOOK).status == "not_due"


def test_a_patient_due_soon_changes_when_the_window_opens() -> None:
    raw = record(imaging=[scan("2026-06-15")])  # opens 2026-12-15
    assert evaluate(raw, D, BOOK).status == "due_soon"
    assert changes_on(raw) == date(2026, 12, 15)


def test_a_patient_due_changes_the_day_after_close_plus_grace() -> None:
    raw = record(imaging=[scan("2025-11-20")])  # opens 2026-05-20, closes 2026-11-20, grace to 2026-12-20
    assert evaluate(raw, D, BOOK).status == "due"
    assert changes_on(raw) == date(2026, 12, 21)
    assert evaluate(raw, date(2026, 12, 21), BOOK).status == "overdue"


def test_an_overdue_patient_changes_when_escalation_reaches_level_2() -> None:
    raw = record(imaging=[scan("2025-09-01")])  # overdue from 2026-10-01 + 1
    first = evaluate(raw, D, BOOK)
    assert (first.status, first.escalation_level) == ("overdue", 1)
    assert changes_on(raw) == date(2026, 10, 1) + timedelta(days=90)
    assert evaluate(raw, date(2026, 12, 30), BOOK).escalation_level == 2


def test_an_escalated_patient_does_not_change_with_the_date_alone() -> None:
    assert changes_on(record(imaging=[scan("2024-01-01")])) is None


# Record dates -----------------------------------------------------------------------------------

def test_a_patient_not_yet_resected_changes_on_the_resection_date() -> None:
    assert changes_on(record(resection_date="2027-01-10")) == date(2027, 1, 10)


def test_a_status_that_takes_effect_later_changes_on_its_date() -> None:
    raw = record(status="deceased", status_date="2027-02-01", imaging=[scan("2026-10-01")])
    assert changes_on(raw) == date(2027, 2, 1)
    assert evaluate(raw, date(2027, 2, 1), BOOK).status == "inactive"


def test_a_scan_dated_after_the_as_of_date_changes_on_its_date() -> None:
    raw = record(imaging=[scan("2026-10-01"), scan("2026-12-20", "SSTR_PET")])
    assert changes_on(raw) == date(2026, 12, 20)  # imaging_ignored_modality appears that day


def test_completed_not_indicated_and_inactive_patients_do_not_change_with_the_date() -> None:
    assert changes_on(record(resection_date="2010-01-01", imaging=[scan("2019-12-01")])) is None
    assert changes_on(record(primary_site="appendix", grade=1, ki67_percent=1, tumor_size_mm=8)) is None
    assert changes_on(record(status="recurrence", status_date="2025-01-01")) is None


def test_the_modality_depends_on_the_age_when_the_window_opens_not_on_the_as_of_date() -> None:
    raw = record(birth_date="1977-01-15", imaging=[scan("2026-10-01")])  # 50 on 2027-01-15, window 2027-04-01
    assert evaluate(raw, D, BOOK).recommended_modality == evaluate(raw, date(2027, 3, 1), BOOK).recommended_modality


def test_a_standing_keeps_the_day_overdue_counting_starts() -> None:
    raw = record(imaging=[scan("2025-09-01")])
    parsed, _ = parse_record(raw, BOOK.ids)
    assert parsed is not None
    evaluation = evaluate(raw, D, BOOK)
    standing = standing_of(evaluation, BOOK["nccn"], parsed)
    assert standing.overdue_from is not None
    assert (D - standing.overdue_from).days == evaluation.days_overdue
    assert standing.next_change == next_change(parsed, evaluation, BOOK["nccn"])


def test_the_rules_fingerprint_changes_with_a_team_guideline_and_not_with_set_order() -> None:
    one = rules_fingerprint(BOOK, {"a": "nccn", "b": "esmo2020"}, "1")
    assert one == rules_fingerprint(BOOK, {"b": "esmo2020", "a": "nccn"}, "1")
    assert one != rules_fingerprint(BOOK, {"a": "nccn", "b": "nccn"}, "1")
    assert one != rules_fingerprint(BOOK, {"a": "nccn", "b": "esmo2020"}, "2")


# The property: nothing changes before next_change ----------------------------------------------

SITES = ("pancreas", "small_intestine", "appendix", "rectum", "colon", "stomach", "duodenum", "lung", "thymus",
         "other")


@st.composite
def records(draw: st.DrawFn, patient_id: str = "P1", start: date = D) -> dict[str, Any]:
    """Valid records of every kind, with dates around `start` (some scans and statuses in its future)."""
    resection = start + timedelta(days=draw(st.integers(-4000, 60)))
    birth = resection - timedelta(days=draw(st.integers(25 * 365, 85 * 365)))
    site = draw(st.sampled_from(SITES))
    scans = draw(st.lists(st.tuples(st.integers(-3000, 400), st.sampled_from(MODALITIES)), max_size=5))
    examined = draw(st.none() | st.integers(0, 20))
    positive = draw(st.none() | st.integers(0, examined if examined is not None else 5))
    status = draw(st.sampled_from(["active"] * 6 + ["recurrence", "deceased", "opted_out", "transferred"]))
    return record(
        patient_id=patient_id, birth_date=birth.isoformat(), primary_site=site, resection_date=resection.isoformat(),
        grade=draw(st.none() | st.sampled_from([1, 2, 3])),
        ki67_percent=draw(st.none() | st.sampled_from([1, 4, 5, 8, 25])),
        tumor_size_mm=draw(st.none() | st.sampled_from([5, 9, 12, 18, 20, 35])), nodes_positive=positive,
        nodes_examined=examined, margin=draw(st.none() | st.sampled_from(["R0", "R1", "R2"])),
        resection_type=draw(st.none() | st.sampled_from(["local_excision", "formal_resection"])),
        lymphovascular_invasion=draw(st.none() | st.booleans()),
        gastric_type=draw(st.none() | st.sampled_from([1, 2, 3])) if site == "stomach" else None,
        differentiation=draw(st.sampled_from(["well"] * 5 + ["poor"])),
        status=status,
        status_date=(start + timedelta(days=draw(st.integers(-300, 300)))).isoformat() if status != "active" else None,
        guideline=draw(st.sampled_from([None, None, "nccn", "consensus2018", "esmo2020"])),
        imaging=[scan((resection + timedelta(days=d)).isoformat(), m) for d, m in scans
                 if resection + timedelta(days=d) > birth],
    )


@settings(max_examples=200, deadline=None)
@given(records(), st.integers(-200, 200))
def test_no_evaluation_changes_before_next_change(raw: dict[str, Any], offset: int) -> None:
    as_of = D + timedelta(days=offset)
    parsed, errors = parse_record(raw, BOOK.ids)
    assert parsed is not None, errors
    first = evaluate(raw, as_of, BOOK)
    until = next_change(parsed, first, BOOK[first.guideline or BOOK.default])
    assert until is None or until > as_of
    end = min(until or date.max, as_of + timedelta(days=500))
    day = as_of + DAY
    while day < end:
        assert decision(evaluate(raw, day, BOOK)) == decision(first), day
        day += DAY
