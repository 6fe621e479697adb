"""The boundaries spec v2 adds, each as its own test: local excisions, sizes 10 and 20 mm, the short courses,
grade 3, esmo2020, nodes_examined 0, gastric type, and which examinations count under which rule."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from netflow.domain import Evaluation, add_months, evaluate
from netflow.guidelines import load_rulebook
from tests.support.records import low_risk, record, scan

BOOK = load_rulebook()
D = date(2026, 12, 1)
A = date(2025, 1, 1)


def run(raw: dict[str, Any], as_of: date = D, guideline: str | None = None) -> Evaluation:
    return evaluate(raw, as_of, BOOK, guideline)


def local(**fields: Any) -> dict[str, Any]:
    """A grade 1, R0 tumour removed by local excision, no node examined."""
    return low_risk(resection_type="local_excision", nodes_positive=None, nodes_examined=None, **fields)


# Sizes 10 and 20 mm for the appendix and the rectum ---------------------------------------------

@pytest.mark.parametrize(("site", "size", "rule_id"), [
    ("appendix", 9.9, "nccn/appendix/not_indicated"),
    ("appendix", 10, "nccn/appendix/optional"),
    ("appendix", 20, "nccn/appendix/optional"),
    ("appendix", 20.1, "nccn/extrapancreatic/standard"),
    ("rectum", 9.9, "nccn/rectum/not_indicated"),
    ("rectum", 10, "nccn/rectum/short_course"),
    ("rectum", 20, "nccn/rectum/short_course"),
    ("rectum", 20.1, "nccn/extrapancreatic/standard"),
], ids=lambda v: str(v))
def test_appendix_and_rectum_sizes_choose_the_rule_at_10_and_20_mm(site: str, size: float, rule_id: str) -> None:
    assert run(local(primary_site=site, tumor_size_mm=size)).rule_id == rule_id


def test_a_standard_tier_rectal_tumour_under_10_mm_takes_the_short_course_never_less() -> None:
    result = run(local(primary_site="rectum", tumor_size_mm=8, grade=2, ki67_percent=4))
    assert (result.risk_tier, result.rule_id) == ("standard", "nccn/rectum/short_course")


def test_a_size_not_recorded_takes_the_general_schedule() -> None:
    result = run(local(primary_site="appendix", tumor_size_mm=None))
    assert (result.risk_tier, result.rule_id) == ("standard", "nccn/extrapancreatic/standard")


# The rectal short course and its 15-month horizon -----------------------------------------------

def rectal(*exams: date) -> dict[str, Any]:
    return local(primary_site="rectum", tumor_size_mm=15, resection_date=A.isoformat(),
                 imaging=[scan(day.isoformat(), "MRI") for day in exams])


def test_the_rectal_course_asks_for_the_12_month_exam_after_the_6_month_one() -> None:
    result = run(rectal(add_months(A, 6)), as_of=add_months(A, 7))
    assert (result.status, result.window_open) == ("not_due", add_months(A, 12))


def test_the_rectal_course_is_completed_after_the_second_exam() -> None:
    result = run(rectal(add_months(A, 6), add_months(A, 12)), as_of=add_months(A, 13))
    assert (result.status, result.recommended_modality) == ("completed", None)


def test_a_first_rectal_exam_at_9_months_still_leads_to_one_more() -> None:
    assert run(rectal(add_months(A, 9)), as_of=add_months(A, 10)).status == "not_due"  # next opens at 15 months


def test_a_first_rectal_exam_later_than_9_months_completes_the_course() -> None:
    assert run(rectal(add_months(A, 9) + timedelta(days=1)), as_of=add_months(A, 10)).status == "completed"


def test_without_any_rectal_exam_the_first_window_stays_owed() -> None:
    result = run(rectal(), as_of=add_months(A, 20))
    assert (result.status, result.window_open) == ("overdue", add_months(A, 6))


# Gastric type 2: completed with the first gastroscopy ----------------------------------------------

def test_gastric_type_2_is_completed_by_the_first_endoscopy() -> None:
    raw = local(primary_site="stomach", gastric_type=2, tumor_size_mm=8, resection_date=A.isoformat(),
                imaging=[scan(add_months(A, 12).isoformat(), "endoscopy")])
    assert run(raw, as_of=add_months(A, 13)).status == "completed"


# Grade 3: 3-6 months for 2 years, then 6-12 ------------------------------------------------------

@pytest.mark.parametrize(("last_scan", "interval"), [
    (add_months(A, 24) - timedelta(days=1), (3, 6)),
    (add_months(A, 24), (6, 12)),
], ids=["a day before 24 months", "at 24 months"])
def test_grade_3_changes_phase_at_24_months(last_scan: date, interval: tuple[int, int]) -> None:
    raw = record(grade=3, ki67_percent=25, resection_date=A.isoformat(), imaging=[scan(last_scan.isoformat())])
    result = run(raw, as_of=last_scan + timedelta(days=1))
    assert (result.rule_id, result.interval_months) == ("nccn/wdg3/high", interval)


# esmo2020: the phase change at 60 months, and lifelong -----------------------------------------

@pytest.mark.parametrize(("months_before", "interval"), [(1, (6, 6)), (0, (12, 24))],
                         ids=["a day before 60 months", "at 60 months"])
def test_esmo2020_changes_phase_at_60_months(months_before: int, interval: tuple[int, int]) -> None:
    anchor = date(2018, 1, 10)
    last = add_months(anchor, 60) - timedelta(days=months_before)
    raw = record(resection_date=anchor.isoformat(), imaging=[scan(last.isoformat())])
    result = run(raw, as_of=last + timedelta(days=1), guideline="esmo2020")
    assert (result.rule_id, result.interval_months) == ("esmo2020/gep/standard", interval)


def test_esmo2020_is_never_completed_even_after_10_years() -> None:
    raw = record(resection_date="2010-01-01", imaging=[scan("2024-06-01")])
    assert run(raw).status == "completed"  # nccn: the 10-year course is over
    result = run(raw, guideline="esmo2020")
    assert (result.status, result.window_open) == ("overdue", date(2025, 6, 1))


def test_lung_under_esmo2020_needs_review_as_not_covered() -> None:
    result = run(record(primary_site="lung"), guideline="esmo2020")
    assert (result.status, result.review_reasons, result.rule_id) == ("needs_review", ("site_not_covered",), None)


# Nodal status: nodes_examined 0, local excisions -----------------------------------------------

def test_no_node_examined_after_a_formal_resection_is_high_risk_nodes_unknown() -> None:
    result = run(low_risk(nodes_positive=0, nodes_examined=0, resection_type="formal_resection"))
    assert (result.risk_tier, result.risk_reasons, result.data_issues) == ("high", ("nodes_unknown",),
                                                                           ("nodes_missing",))


def test_no_node_examined_after_a_local_excision_is_not_a_risk_reason() -> None:
    result = run(low_risk(nodes_positive=0, nodes_examined=0, resection_type="local_excision"))
    assert (result.risk_tier, result.risk_reasons, result.data_issues) == ("low", (), ("nodes_not_assessed",))


def test_a_missing_resection_type_is_not_a_local_excision() -> None:
    result = run(low_risk(nodes_positive=None, nodes_examined=None))
    assert (result.risk_tier, result.risk_reasons) == ("high", ("nodes_unknown",))


def test_lymphovascular_invasion_is_a_high_risk_reason_and_its_absence_blocks_nothing() -> None:
    assert run(low_risk(lymphovascular_invasion=True)).risk_reasons == ("lvi",)
    assert run(low_risk(lymphovascular_invasion=False)).risk_tier == "low"
    assert run(low_risk(lymphovascular_invasion=None)).risk_tier == "low"


# Gastric type ----------------------------------------------------------------------------------

@pytest.mark.parametrize("site", ["duodenum", None, "liver"], ids=["another site", "no site", "unknown site"])
def test_a_gastric_type_on_a_tumour_not_of_the_stomach_is_invalid(site: str | None) -> None:
    result = run(record(primary_site=site, gastric_type=1))
    assert result.status == "invalid" and "gastric_type" in [e.field for e in result.errors]


@pytest.mark.parametrize("value", ["1", 1.0, True, 4])
def test_a_gastric_type_that_is_not_1_2_or_3_is_malformed(value: Any) -> None:
    result = run(record(primary_site="stomach", gastric_type=value))
    assert [e.field for e in result.errors] == ["gastric_type"]


def test_a_stomach_tumour_without_gastric_type_is_a_data_issue_and_follows_the_general_schedule() -> None:
    result = run(record(primary_site="stomach"))
    assert (result.rule_id, "gastric_type_missing" in result.data_issues) == ("nccn/extrapancreatic/standard", True)


# Which examinations count ---------------------------------------------------------------------

def test_an_endoscopy_counts_for_gastric_type_1() -> None:
    raw = local(primary_site="stomach", gastric_type=1, tumor_size_mm=8, resection_date=A.isoformat(),
                imaging=[scan("2026-01-10", "endoscopy"), scan("2026-02-01", "CT")])
    result = run(raw)
    assert (result.last_scan, result.interval_months) == (date(2026, 1, 10), (12, 36))
    assert "imaging_ignored_modality" in result.data_issues  # the CT does not count under this rule


@pytest.mark.parametrize(("raw", "guideline"), [
    (record(imaging=[scan("2024-01-10", "endoscopy")]), None),
    (local(primary_site="rectum", tumor_size_mm=15, imaging=[scan("2022-09-15", "endoscopy")]), None),
    (record(imaging=[scan("2024-01-10", "endoscopy")]), "esmo2020"),
], ids=["pancreas under nccn", "the rectal course (MRI or EUS only)", "esmo2020"])
def test_an_endoscopy_counts_only_where_the_rule_names_it(raw: dict[str, Any], guideline: str | None) -> None:
    result = run(raw, guideline=guideline)
    assert result.last_scan is None and "imaging_ignored_modality" in result.data_issues


def test_an_eus_counts_for_the_rectal_course() -> None:
    result = run(local(primary_site="rectum", tumor_size_mm=15, imaging=[scan("2022-09-15", "EUS")]))
    assert result.last_scan == date(2022, 9, 15)


# Modality --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("birth", "modality"), [("1990-01-01", "chest_CT_and_MRI"),
                                                 ("1950-01-01", "chest_CT_and_CT_or_MRI")])
def test_a_thoracic_primary_adds_a_chest_ct_under_50_and_over(birth: str, modality: str) -> None:
    assert run(record(primary_site="thymus", birth_date=birth)).recommended_modality == modality


def test_a_grade_3_lung_tumour_keeps_the_chest_ct() -> None:
    result = run(record(primary_site="lung", grade=3, ki67_percent=30))
    assert (result.rule_id, result.recommended_modality) == ("nccn/wdg3/high", "chest_CT_and_CT_or_MRI")


# Stricter types --------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("grade", 2.0), ("grade", "2"), ("grade", True), ("nodes_examined", 3.0), ("nodes_positive", "1"),
    ("ki67_percent", True), ("tumor_size_mm", False), ("lymphovascular_invasion", "yes"),
    ("lymphovascular_invasion", 1), ("resection_type", 1), ("resection_type", "appendectomy"),
    ("birth_date", "1960-6-15"), ("resection_date", "2022-03-15T00:00:00"),
], ids=lambda v: repr(v))
def test_a_value_of_the_wrong_type_is_malformed(field: str, value: Any) -> None:
    assert [e.field for e in run(record(**{field: value})).errors] == [field]


def test_imaging_errors_name_the_entry_and_its_field_counted_from_0() -> None:
    raw = record(imaging=[scan("2023-01-01"), {"date": "2023-02-30", "modality": "PET"}])
    assert [e.field for e in run(raw).errors] == ["imaging[1].date", "imaging[1].modality"]
