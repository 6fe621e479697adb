"""The surveillance engine: one record, one rule book, one as-of date -> one evaluation.

Pure: no clock, no database, no I/O. The same inputs always give the same evaluation.

>>> from netflow.guidelines import load_rulebook
>>> ev = evaluate({"patient_id": "X1", "birth_date": "1960-06-15", "care_team": "gi",
...                "primary_site": "pancreas", "grade": 2, "ki67_percent": 4, "tumor_size_mm": 25,
...                "nodes_positive": 2, "margin": "R0", "resection_date": "2022-03-15",
...                "imaging": [{"date": "2025-11-20", "modality": "CT"}]},
...               date(2026, 12, 1), load_rulebook())
>>> ev.status, ev.days_overdue
('overdue', 165)
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta
from functools import lru_cache

from netflow.domain import explain
from netflow.domain.dates import add_months, age_on
from netflow.domain.evaluation import Evaluation
from netflow.domain.lean import quick_record
from netflow.domain.record import INACTIVE_STATUSES, FieldError, PatientRecord, parse_record
from netflow.domain.risk import RiskAssessment, assess_risk, data_issues, review_reasons
from netflow.domain.rules import CROSS_SECTIONAL, Rule, RuleBook, RuleSet, guideline_for

__all__ = ["evaluate", "evaluate_record", "evaluate_stored", "last_qualifying_scan", "modality"]


def evaluate(raw: object, as_of: date, book: RuleBook, default_guideline: str | None = None) -> Evaluation:
    """Validate a raw record and evaluate it.

    The guideline is the record's own, else `default_guideline` (the care team's), else the
    rule book's default.
    """
    record = quick_record(raw, book.ids)  # the common case; parse_record decides the rest, naming each field
    if record is None:
        record, errors = parse_record(raw, book.ids)
    if record is None:
        patient_id = raw.get("patient_id") if isinstance(raw, dict) else None
        return Evaluation(
            patient_id=patient_id,
            as_of=as_of,
            status="invalid",
            errors=tuple(errors),
            explanation=explain.invalid(errors),
        )
    return evaluate_stored(record, as_of, book, default_guideline)


def evaluate_stored(record: PatientRecord, as_of: date, book: RuleBook, team_guideline: str | None = None
                    ) -> Evaluation:
    """Evaluate a record already validated (e.g. read back from the patient database) under its guideline.

    A guideline the book does not have (removed since the record was stored) makes the record invalid."""
    guideline = guideline_for(record.guideline, team_guideline, book)
    if guideline not in book.ids:
        errors = (FieldError("guideline", f"must be one of {', '.join(book.ids)}; got {guideline!r}"),)
        return Evaluation(patient_id=record.patient_id, as_of=as_of, status="invalid", errors=errors,
                          explanation=explain.invalid(list(errors)), care_team=record.care_team)
    return evaluate_record(record, as_of, book[guideline])


def last_qualifying_scan(record: PatientRecord, as_of: date,
                         qualifying: Collection[str] = CROSS_SECTIONAL) -> date | None:
    """L: the latest scan of a qualifying modality strictly after the resection and on or before as_of."""
    anchor = record.resection_date
    latest = None
    for scan in record.imaging:
        if (scan.modality in qualifying and anchor < scan.date <= as_of
                and (latest is None or scan.date > latest)):
            latest = scan.date
    return latest


def _is_inactive(record: PatientRecord, as_of: date) -> bool:
    if record.resection_date > as_of:
        return True
    return record.status in INACTIVE_STATUSES and (
        record.status_date is None or record.status_date <= as_of
    )


def _evaluation(record: PatientRecord, as_of: date, rules: RuleSet, risk: RiskAssessment,
                qualifying: Collection[str], status: str, explanation: str, review: tuple[str, ...] = (),
                rule_id: str | None = None) -> Evaluation:
    """An evaluation without a window (inactive, needs_review, not_indicated), built positionally."""
    return Evaluation(
        record.patient_id, as_of, status, rules.id, rule_id, risk.tier, risk.reasons,
        last_qualifying_scan(record, as_of, qualifying), None, None, None, 0, 0, None,
        data_issues(record, risk, as_of, qualifying), (), explanation, review, record.care_team,
    )


def modality(rule: Rule, rules: RuleSet, record: PatientRecord, window_open: date) -> str | None:
    """The modality to recommend for a window (spec section 6)."""
    if rule.recommends != "cross_sectional":
        return rule.recommends
    young = age_on(record.birth_date, window_open) < rules.mri_below_age
    if record.primary_site in rules.chest_ct_sites:
        return "chest_CT_and_MRI" if young else "chest_CT_and_CT_or_MRI"
    return "MRI" if young else "CT_or_MRI"


@lru_cache(maxsize=64)
def _days(n: int) -> timedelta:
    return timedelta(days=n)


def evaluate_record(record: PatientRecord, as_of: date, rules: RuleSet) -> Evaluation:
    """Evaluate a validated record under one rule set (spec sections 4 to 6)."""
    risk = assess_risk(record)
    if _is_inactive(record, as_of):
        return _evaluation(record, as_of, rules, risk, CROSS_SECTIONAL, "inactive", explain.inactive(record, as_of))
    review = review_reasons(record, rules.covers)
    rule = None if review else rules.rule_for(record.primary_site, risk.tier, risk.effective_grade,
                                               record.gastric_type, record.tumor_size_mm)
    if rule is None:  # outside the rule sets (a rule set without a rule for this patient, too)
        review = review or ("site_not_covered",)
        return _evaluation(record, as_of, rules, risk, CROSS_SECTIONAL, "needs_review",
                           explain.needs_review(record, review, rules), review)
    if rule.not_indicated:
        return _evaluation(record, as_of, rules, risk, rule.qualifying, "not_indicated",
                           explain.not_indicated(record, risk, rules, rule), rule_id=rule.id)
    anchor = record.resection_date
    last_scan = last_qualifying_scan(record, as_of, rule.qualifying)
    issues = data_issues(record, risk, as_of, rule.qualifying)
    interval = rule.interval_after(anchor, last_scan)
    start = last_scan or anchor
    window_open = add_months(start, interval.min_months)
    window_close = add_months(start, interval.max_months)
    months = (interval.min_months, interval.max_months)
    horizon_end = rule.horizon_end(anchor)
    if horizon_end is not None and window_open > horizon_end:
        return Evaluation(
            record.patient_id, as_of, "completed", rules.id, rule.id, risk.tier, risk.reasons, last_scan,
            window_open, window_close, months, 0, 0, None, issues, (),
            explain.completed(record, risk, rules, rule, horizon_end, window_open), (), record.care_team,
        )
    overdue_from = window_close + _days(rules.grace_days)
    if as_of < window_open - _days(rules.lead_days):
        status = "not_due"
    elif as_of < window_open:
        status = "due_soon"
    elif as_of <= overdue_from:
        status = "due"
    else:
        status = "overdue"
    days_overdue = (as_of - overdue_from).days if status == "overdue" else 0
    escalation = 0 if status != "overdue" else 2 if days_overdue >= rules.escalation_days else 1
    explanation = explain.window(record, risk, rules, rule, interval, last_scan, status,
                                 window_open, window_close, days_overdue, as_of)
    return Evaluation(
        record.patient_id, as_of, status, rules.id, rule.id, risk.tier, risk.reasons, last_scan,
        window_open, window_close, months, days_overdue, escalation,
        modality(rule, rules, record, window_open), issues, (), explanation, (), record.care_team,
    )
