"""The boundaries the spec names, each as its own test."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from netflow.domain import Evaluation, add_months, age_on, effective_grade, evaluate
from netflow.guidelines import load_rulebook
from tests.support.records import low_risk, record, scan

BOOK = load_rulebook()
D = date(2026, 12, 1)


def run(raw: dict[str, Any], as_of: date = D, guideline: str | None = None) -> Evaluation:
    return evaluate(raw, as_of, BOOK, guideline)


# Ki-67, grade and size thresholds -------------------------------------------------------------

def test_ki67_of_exactly_5_is_not_high_risk() -> None:
    assert run(record(ki67_percent=5)).risk_tier == "standard"


def test_ki67_just_above_5_is_high_risk() -> None:
    result = run(record(ki67_percent=5.01))
    assert (result.risk_tier, result.risk_reasons) == ("high", ("ki67_gt_5",))


@pytest.mark.parametrize(("ki67", "grade"), [(2.99, 1), (3, 2), (20, 2), (20.01, 3)])
def test_ki67_implies_the_who_grade_at_3_and_20(ki67: float, grade: int) -> None:
    assert effective_grade(None, ki67) == grade


def test_the_higher_of_stated_grade_and_ki67_grade_wins() -> None:
    assert effective_grade(1, 25) == 3
    assert effective_grade(3, 1) == 3


def test_size_of_exactly_20_mm_is_not_low_risk() -> None:
    assert run(low_risk(tumor_size_mm=20)).risk_tier == "standard"


def test_size_just_under_20_mm_is_low_risk() -> None:
    assert run(low_risk(tumor_size_mm=19.9)).risk_tier == "low"


def test_rectal_tumour_of_exactly_10_mm_follows_the_short_course_under_nccn() -> None:
    result = run(low_risk(primary_site="rectum", tumor_size_mm=10))
    assert (result.status, result.rule_id) == ("overdue", "nccn/rectum/short_course")


def test_rectal_tumour_under_10_mm_needs_no_imaging_under_nccn() -> None:
    assert run(low_risk(primary_site="rectum", tumor_size_mm=9.9)).status == "not_indicated"


def test_appendix_tumour_under_10_mm_low_risk_needs_no_imaging_under_nccn() -> None:
    assert run(low_risk(primary_site="appendix", tumor_size_mm=9.9)).status == "not_indicated"


def test_every_low_risk_patient_needs_no_imaging_under_consensus2018() -> None:
    result = run(low_risk(primary_site="small_intestine"), guideline="consensus2018")
    assert (result.status, result.rule_id) == ("not_indicated", "consensus2018/all/low")


def test_missing_margin_blocks_low_risk_without_making_high_risk() -> None:
    result = run(low_risk(margin=None))
    assert (result.risk_tier, result.data_issues) == ("standard", ("margin_missing",))


def test_missing_ki67_with_grade_1_is_not_high_risk() -> None:
    result = run(low_risk(ki67_percent=None))
    assert (result.risk_tier, result.data_issues) == ("low", ("ki67_missing",))


def test_missing_ki67_and_grade_is_high_risk_with_both_issues() -> None:
    result = run(record(ki67_percent=None, grade=None))
    assert result.risk_reasons == ("ki67_unknown",)
    assert result.data_issues == ("ki67_missing", "grade_missing")


def test_every_high_risk_reason_is_listed_in_spec_order() -> None:
    result = run(record(nodes_positive=None, ki67_percent=None, grade=3, margin="R1"))
    assert result.risk_reasons == ("grade_3", "margin_r1", "nodes_unknown", "ki67_unknown")


# Month arithmetic ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 10, 31), 1, date(2025, 11, 30)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 3, 31), 120, date(2035, 3, 31)),
    ],
)
def test_add_months_clamps_to_the_last_day_of_the_month(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_a_window_from_a_month_end_scan_opens_on_the_leap_day() -> None:
    raw = record(nodes_positive=1, imaging=[scan("2023-08-31")])
    result = run(raw, as_of=date(2024, 2, 1))
    assert result.window_open == date(2024, 2, 29)


def test_age_counts_whole_years_completed() -> None:
    assert age_on(date(1976, 12, 20), date(2026, 12, 19)) == 49
    assert age_on(date(1976, 12, 20), date(2026, 12, 20)) == 50
    assert age_on(date(2000, 2, 29), date(2025, 2, 28)) == 24
    assert age_on(date(2000, 2, 29), date(2025, 3, 1)) == 25


# The window: lead, grace and escalation -------------------------------------------------------------

# A high-risk pancreatic patient with a CT on 2025-11-20: window opens and closes 2026-05-20.
HIGH = record(nodes_positive=2, imaging=[scan("2025-11-20")])
OPEN = date(2026, 5, 20)


@pytest.mark.parametrize(
    ("as_of", "status"),
    [
        (OPEN - timedelta(days=31), "not_due"),
        (OPEN - timedelta(days=30), "due_soon"),
        (OPEN - timedelta(days=1), "due_soon"),
        (OPEN, "due"),
        (OPEN + timedelta(days=30), "due"),
        (OPEN + timedelta(days=31), "overdue"),
    ],
)
def test_status_changes_exactly_at_open_minus_30_and_close_plus_30(as_of: date, status: str) -> None:
    assert run(HIGH, as_of=as_of).status == status


def test_one_day_past_the_grace_period_is_one_day_overdue_at_level_1() -> None:
    result = run(HIGH, as_of=OPEN + timedelta(days=31))
    assert (result.days_overdue, result.escalation_level) == (1, 1)


def test_89_days_overdue_is_escalation_level_1() -> None:
    result = run(HIGH, as_of=OPEN + timedelta(days=30 + 89))
    assert (result.days_overdue, result.escalation_level) == (89, 1)


def test_90_days_overdue_is_escalation_level_2() -> None:
    result = run(HIGH, as_of=OPEN + timedelta(days=30 + 90))
    assert (result.days_overdue, result.escalation_level) == (90, 2)


# Modality ------------------------------------------------------------------------------------------

def test_patient_turning_50_on_the_window_open_date_gets_ct_or_mri() -> None:
    assert run(record(birth_date="1976-05-20", **_high())).recommended_modality == "CT_or_MRI"


def test_patient_49_on_the_window_open_date_gets_mri() -> None:
    assert run(record(birth_date="1976-05-21", **_high())).recommended_modality == "MRI"


def _high() -> dict[str, Any]:
    return {"nodes_positive": 2, "imaging": [scan("2025-11-20")]}


def test_non_window_statuses_recommend_no_modality() -> None:
    assert run(record(status="deceased")).recommended_modality is None


# Which scans count ---------------------------------------------------------------------------------

def test_a_scan_on_the_resection_day_does_not_count() -> None:
    result = run(record(resection_date="2026-09-05", imaging=[scan("2026-09-05")]))
    assert result.last_scan is None


def test_a_scan_the_day_after_resection_counts() -> None:
    result = run(record(resection_date="2026-09-05", imaging=[scan("2026-09-06")]))
    assert result.last_scan == date(2026, 9, 6)


def test_a_scan_on_the_as_of_date_counts_and_one_after_it_is_ignored() -> None:
    raw = record(imaging=[scan("2026-12-01"), scan("2026-12-02")])
    assert run(raw).last_scan == date(2026, 12, 1)


def test_a_pet_scan_does_not_count_and_is_a_data_issue() -> None:
    result = run(record(imaging=[scan("2026-06-01", "SSTR_PET")]))
    assert (result.last_scan, result.data_issues) == (None, ("imaging_ignored_modality",))


def test_a_pet_scan_after_the_as_of_date_is_not_a_data_issue() -> None:
    assert run(record(imaging=[scan("2027-06-01", "FDG_PET")])).data_issues == ()


# Status precedence -----------------------------------------------------------------------------------

def test_status_date_on_the_as_of_date_makes_the_patient_inactive() -> None:
    assert run(record(status="transferred", status_date="2026-12-01")).status == "inactive"


def test_status_date_after_the_as_of_date_keeps_the_patient_under_surveillance() -> None:
    assert run(record(status="opted_out", status_date="2026-12-02")).status == "overdue"


def test_resection_on_the_as_of_date_starts_surveillance() -> None:
    assert run(record(resection_date="2026-12-01")).status == "not_due"


def test_inactive_takes_precedence_over_needs_review() -> None:
    assert run(record(status="deceased", margin="R2")).status == "inactive"


def test_needs_review_lists_no_window() -> None:
    result = run(record(primary_site="other"))
    assert (result.status, result.rule_id, result.window_open) == ("needs_review", None, None)


# The consensus phase boundary at 36 months ---------------------------------------------------------

def test_a_last_scan_the_day_before_36_months_keeps_the_yearly_phase() -> None:
    raw = record(resection_date="2022-03-15", imaging=[scan("2025-03-14")], guideline="consensus2018")
    assert run(raw).interval_months == (12, 12)


def test_a_last_scan_exactly_36_months_after_resection_moves_to_1_to_2_years() -> None:
    raw = record(resection_date="2022-03-15", imaging=[scan("2025-03-15")], guideline="consensus2018")
    assert run(raw).interval_months == (12, 24)


def test_high_risk_consensus_patients_go_from_6_to_12_months_at_36_months() -> None:
    early = record(nodes_positive=1, guideline="consensus2018", imaging=[scan("2025-03-14")])
    late = record(nodes_positive=1, guideline="consensus2018", imaging=[scan("2025-03-15")])
    assert (run(early).interval_months, run(late).interval_months) == ((6, 6), (12, 12))


# The 120-month horizon --------------------------------------------------------------------------------

def test_a_window_opening_exactly_at_120_months_is_still_scheduled() -> None:
    # standard pancreas: last scan 2025-09-15 + 6 months = 2026-03-15 = resection + 120 months
    raw = record(resection_date="2016-03-15", imaging=[scan("2025-09-15")])
    result = run(raw)
    assert (result.window_open, result.status) == (date(2026, 3, 15), "overdue")


def test_a_window_opening_a_day_after_120_months_completes_the_course() -> None:
    raw = record(resection_date="2016-03-15", imaging=[scan("2025-09-16")])
    result = run(raw)
    assert (result.status, result.window_open, result.recommended_modality) == (
        "completed", date(2026, 3, 16), None)
