"""Effective grade, risk tier with its reasons, review reasons and data issues (spec section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from netflow.domain.record import PatientRecord

__all__ = [
    "DATA_ISSUES",
    "REVIEW_REASONS",
    "RISK_REASONS",
    "RiskAssessment",
    "assess_risk",
    "data_issues",
    "effective_grade",
    "review_reasons",
]

RISK_REASONS = ("nodes_positive", "ki67_gt_5", "grade_3", "margin_r1", "nodes_unknown", "ki67_unknown")
REVIEW_REASONS = ("nec", "hereditary_syndrome", "margin_r2", "site_other")
DATA_ISSUES = (
    "ki67_missing", "grade_missing", "nodes_missing", "size_missing", "margin_missing",
    "imaging_ignored_modality",
)
QUALIFYING_MODALITIES = frozenset(("CT", "MRI"))


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """The risk tier (high, standard, low) and, for high, every reason in spec order."""

    tier: str
    reasons: tuple[str, ...]
    effective_grade: int | None


def effective_grade(grade: int | None, ki67_percent: float | None) -> int | None:
    """The WHO grade implied by Ki-67 and the stated grade, the higher where both exist."""
    implied = None
    if ki67_percent is not None:
        implied = 1 if ki67_percent < 3 else 2 if ki67_percent <= 20 else 3
    if grade is None:
        return implied
    if implied is None:
        return grade
    return max(grade, implied)


def assess_risk(record: PatientRecord) -> RiskAssessment:
    """High if any reason applies; low only with every favourable feature documented; else standard."""
    grade = effective_grade(record.grade, record.ki67_percent)
    nodes = record.nodes_positive
    ki67 = record.ki67_percent
    reasons: list[str] = []
    if nodes is not None and nodes >= 1:
        reasons.append("nodes_positive")
    if ki67 is not None and ki67 > 5:
        reasons.append("ki67_gt_5")
    if grade == 3:
        reasons.append("grade_3")
    if record.margin == "R1":
        reasons.append("margin_r1")
    if nodes is None:
        reasons.append("nodes_unknown")
    if ki67 is None and grade != 1:
        reasons.append("ki67_unknown")
    if reasons:
        return RiskAssessment("high", tuple(reasons), grade)
    size = record.tumor_size_mm
    if grade == 1 and nodes == 0 and size is not None and size < 20 and record.margin == "R0":
        return RiskAssessment("low", (), grade)
    return RiskAssessment("standard", (), grade)


def review_reasons(record: PatientRecord) -> tuple[str, ...]:
    """Why the record is outside the rule sets (needs a clinician), in spec order; empty if not."""
    reasons = []
    if record.differentiation == "poor":
        reasons.append("nec")
    if record.hereditary_syndrome is not None:
        reasons.append("hereditary_syndrome")
    if record.margin == "R2":
        reasons.append("margin_r2")
    if record.primary_site == "other":
        reasons.append("site_other")
    return tuple(reasons)


def data_issues(record: PatientRecord, as_of: date) -> tuple[str, ...]:
    """Missing fields that matter, and imaging that was done but cannot count."""
    issues = []
    if record.ki67_percent is None:
        issues.append("ki67_missing")
    if record.grade is None:
        issues.append("grade_missing")
    if record.nodes_positive is None:
        issues.append("nodes_missing")
    if record.tumor_size_mm is None:
        issues.append("size_missing")
    if record.margin is None:
        issues.append("margin_missing")
    anchor = record.resection_date
    for scan in record.imaging:
        if anchor < scan.date <= as_of and scan.modality not in QUALIFYING_MODALITIES:
            issues.append("imaging_ignored_modality")
            break
    return tuple(issues)
