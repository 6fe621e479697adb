"""Plain-language explanations a nurse navigator can act on: why this status, from which scan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from netflow.domain.record import FieldError, PatientRecord
from netflow.domain.risk import RiskAssessment
from netflow.domain.rules import Interval, Rule, RuleSet

__all__ = [
    "REASON_WORDS",
    "RECOMMENDATION_WORDS",
    "REVIEW_WORDS",
    "SCAN_WORDS",
    "SITE_NAMES",
    "completed",
    "inactive",
    "invalid",
    "needs_review",
    "not_indicated",
    "risk_words",
    "window",
]

SITE_NAMES = {
    "pancreas": "Pancreatic NET",
    "small_intestine": "Small-intestine NET",
    "appendix": "Appendiceal NET",
    "rectum": "Rectal NET",
    "colon": "Colonic NET",
    "stomach": "Gastric NET",
    "duodenum": "Duodenal NET",
    "lung": "Lung NET (carcinoid)",
    "thymus": "Thymic NET",
    "other": "NET of another primary site",
}
REASON_WORDS = {
    "nodes_positive": "positive nodes",
    "ki67_gt_5": "Ki-67 above 5%",
    "grade_3": "grade 3",
    "margin_r1": "R1 margin",
    "lvi": "lymphovascular invasion",
    "nodes_unknown": "nodal status unknown",
    "ki67_unknown": "Ki-67 not recorded",
}
REVIEW_WORDS = {
    "poorly_differentiated": "poorly differentiated (neuroendocrine carcinoma)",
    "hereditary_syndrome": "hereditary syndrome",
    "margin_r2": "R2 resection (residual disease)",
    "site_other": "primary site outside the rule sets",
    "site_not_covered": "a primary site this guideline does not cover (it covers gastroenteropancreatic NETs)",
}
# How each modality is named in a sentence (scans done), and each recommendation (scans to book).
SCAN_WORDS = {"CT": "CT", "MRI": "MRI", "EUS": "endoscopic ultrasound", "endoscopy": "endoscopy",
              "SSTR_PET": "SSTR PET", "FDG_PET": "FDG PET", "US": "ultrasound", "other": "imaging"}
RECOMMENDATION_WORDS = {
    "MRI": "MRI",
    "CT_or_MRI": "CT or MRI",
    "chest_CT_and_MRI": "chest CT and abdominal MRI",
    "chest_CT_and_CT_or_MRI": "chest CT and abdominal CT or MRI",
    "endoscopy": "endoscopy (gastroscopy)",
    "endoscopy_and_rectal_MRI_or_EUS": "endoscopy with rectal MRI or endorectal ultrasound",
}
REMOVED_WORDS = {"appendix": "removed by appendectomy", "rectum": "removed by local excision",
                 "stomach": "removed endoscopically"}
STATUS_WORDS = {
    "recurrence": "recurrence",
    "deceased": "deceased",
    "opted_out": "opted out of surveillance",
    "transferred": "care transferred",
}


def _num(value: float) -> str:
    return f"{value:g}"


def risk_words(record: PatientRecord, risk: RiskAssessment) -> str:
    """'high risk (2 positive nodes, Ki-67 12%)', 'standard risk', 'low risk'."""
    if risk.tier != "high":
        return f"{risk.tier} risk"
    words = []
    for reason in risk.reasons:
        if reason == "nodes_positive":
            n = record.nodes_positive
            words.append(f"{n} positive node{'s' if n != 1 else ''}")
        elif reason == "ki67_gt_5" and record.ki67_percent is not None:
            words.append(f"Ki-67 {_num(record.ki67_percent)}%")
        else:
            words.append(REASON_WORDS[reason])
    return f"high risk ({', '.join(words)})"


def _lead(record: PatientRecord, risk: RiskAssessment) -> str:
    name = SITE_NAMES[record.primary_site]
    if record.hereditary_syndrome:
        name = f"{name} ({record.hereditary_syndrome})"
    return f"{name}, {risk_words(record, risk)}"


def invalid(errors: Sequence[FieldError]) -> str:
    problems = "; ".join(f"{e.field} {e.message}" for e in errors)
    return f"This record cannot be evaluated until it is corrected: {problems}."


def inactive(record: PatientRecord, as_of: date) -> str:
    if record.resection_date > as_of:
        return (f"No reminders yet: the resection on {record.resection_date} is after "
                f"{as_of}, so surveillance has not started.")
    since = f" since {record.status_date}" if record.status_date else ""
    return (f"No reminders: the patient's status is {STATUS_WORDS[record.status]}{since}, "
            "so routine surveillance imaging is not tracked.")


def needs_review(record: PatientRecord, reasons: Sequence[str], rules: RuleSet) -> str:
    why = "; ".join(REVIEW_WORDS[r] for r in reasons)
    return (f"{SITE_NAMES[record.primary_site]} needs clinician review - {why}: this is outside "
            f"the {rules.short_name} surveillance rules, so a clinician should set the follow-up plan.")


def _removed(record: PatientRecord) -> str:
    if record.resection_type == "local_excision":
        return REMOVED_WORDS.get(record.primary_site, "removed by local excision")
    return "resected"


def not_indicated(record: PatientRecord, risk: RiskAssessment, rules: RuleSet, rule: Rule) -> str:
    """'Appendiceal NET, 8 mm, grade 1, removed by appendectomy: no surveillance imaging is recommended (NCCN).'"""
    facts = [SITE_NAMES[record.primary_site]]
    if record.tumor_size_mm is not None:
        facts.append(f"{_num(record.tumor_size_mm)} mm")
    if risk.effective_grade is not None:
        facts.append(f"grade {risk.effective_grade}")
    facts.append(_removed(record))
    return f"{', '.join(facts)}: no surveillance imaging is recommended ({rules.short_name})."


def _course(months: int) -> str:
    return f"{months // 12}-year" if months % 12 == 0 else f"{months}-month"


def completed(record: PatientRecord, risk: RiskAssessment, rules: RuleSet, rule: Rule, horizon_end: date,
              next_open: date) -> str:
    assert rule.horizon_months is not None
    return (f"{_lead(record, risk)}: the {_course(rule.horizon_months)} {rules.short_name} surveillance course "
            f"after the resection on {record.resection_date} ended on {horizon_end}; the next window would only "
            f"open on {next_open}, so no further routine imaging is scheduled.")


@lru_cache(maxsize=256)
def _scan_kinds(qualifying: frozenset[str]) -> str:
    names = [SCAN_WORDS.get(m, m) for m in sorted(qualifying)]
    return " or ".join(names)


def _schedule(rules: RuleSet, rule: Rule, interval: Interval, last_scan: date | None) -> str:
    what = "the first scan" if rule.qualifying & {"CT", "MRI"} else "the first examination"
    if last_scan is None:
        return f"{rules.short_name} asks for {what} {interval.describe()} after the resection"
    every = "imaging" if rule.qualifying & {"CT", "MRI"} else "an examination"
    return f"{rules.short_name} asks for {every} every {interval.describe()}"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _span(window_open: date, window_close: date) -> str:
    if window_open == window_close:
        return f"on {window_open}"
    return f"between {window_open} and {window_close}"


def window(
    record: PatientRecord,
    risk: RiskAssessment,
    rules: RuleSet,
    rule: Rule,
    interval: Interval,
    last_scan: date | None,
    status: str,
    window_open: date,
    window_close: date,
    days_overdue: int,
    as_of: date,
) -> str:
    """'Pancreatic NET, high risk (2 positive nodes): NCCN asks for imaging every 6 months;
    last CT 2025-11-20, so the next was due on 2026-05-20; now 165 days overdue.'"""
    if last_scan is None:
        basis = f"no {_scan_kinds(rule.qualifying)} since the resection on {record.resection_date}"
    else:
        modality = next(s.modality for s in record.imaging if s.date == last_scan and s.modality in rule.qualifying)
        basis = f"last {SCAN_WORDS.get(modality, modality)} {last_scan}"
    span = _span(window_open, window_close)
    scan = "first scan" if last_scan is None else "next scan"
    if status == "not_due":
        tail = f"so the {scan} is due {span}"
    elif status == "due_soon":
        days = (window_open - as_of).days
        tail = f"so the {scan} is due {span}; the window opens in {_days(days)}"
    elif status == "due":
        tail = f"so the {scan} is due now ({span})"
    else:
        tail = (f"so the {scan} was due {span}; now {_days(days_overdue)} overdue, "
                f"past the {rules.grace_days}-day grace period")
    return f"{_lead(record, risk)}: {_schedule(rules, rule, interval, last_scan)}; {basis}, {tail}."
