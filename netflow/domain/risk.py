"""Effective grade, nodal status, risk tier with its reasons, review reasons and data issues (spec section 3)."""

from __future__ import annotations

from collections.abc import Collection
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
    "nodal_status",
    "review_reasons",
]

RISK_REASONS = ("nodes_positive", "ki67_gt_5", "grade_3", "margin_r1", "lvi", "nodes_unknown", "ki67_unknown")
REVIEW_REASONS = ("poorly_differentiated", "hereditary_syndrome", "margin_r2", "site_other", "site_not_covered")
DATA_ISSUES = (
    "ki67_missing", "grade_missing", "nodes_missing", "nodes_not_assessed", "size_missing", "margin_missing",
    "gastric_type_missing", "imaging_ignored_modality",
)


@dataclass(slots=True, unsafe_hash=True)
class RiskAssessment:
    """The risk tier (high, standard, low) and, for high, every reason in spec order.

    A value (not frozen only because frozen construction is slow: one per evaluation, issue 13)."""

    tier: str
    reasons: tuple[str, ...]
    effective_grade: int | None
    nodal_status: str  # positive, negative, not_assessed


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


def nodal_status(record: PatientRecord) -> str:
    """positive (a positive node), not_assessed (no count, or no node examined), else negative."""
    if record.nodes_positive is not None and record.nodes_positive >= 1:
        return "positive"
    if record.nodes_positive is None or record.nodes_examined == 0:
        return "not_assessed"
    return "negative"


def _local(record: PatientRecord) -> bool:
    """Removed without lymphadenectomy: nodes are not examined by design (a missing type is not local)."""
    return record.resection_type == "local_excision"


def assess_risk(record: PatientRecord) -> RiskAssessment:
    """High if any reason applies; low only with every favourable feature documented; else standard."""
    grade = effective_grade(record.grade, record.ki67_percent)
    nodes = nodal_status(record)
    ki67 = record.ki67_percent
    reasons: list[str] = []
    if nodes == "positive":
        reasons.append("nodes_positive")
    if ki67 is not None and ki67 > 5:
        reasons.append("ki67_gt_5")
    if grade == 3:
        reasons.append("grade_3")
    if record.margin == "R1":
        reasons.append("margin_r1")
    if record.lymphovascular_invasion is True:
        reasons.append("lvi")
    if nodes == "not_assessed" and not _local(record):
        reasons.append("nodes_unknown")
    if ki67 is None and record.grade != 1:
        reasons.append("ki67_unknown")
    if reasons:
        return RiskAssessment("high", tuple(reasons), grade, nodes)
    size = record.tumor_size_mm
    nodes_ok = nodes == "negative" or (nodes == "not_assessed" and _local(record))
    if grade == 1 and nodes_ok and size is not None and size < 20 and record.margin == "R0":
        return RiskAssessment("low", (), grade, nodes)
    return RiskAssessment("standard", (), grade, nodes)


def review_reasons(record: PatientRecord, covered_sites: Collection[str]) -> tuple[str, ...]:
    """Why the record is outside the rule sets (needs a clinician), in spec order; empty if not.

    `covered_sites`: the primary sites the applicable guideline covers (a lung or thymus primary
    under a GEP-only guideline is `site_not_covered`)."""
    reasons = []
    if record.differentiation == "poor":
        reasons.append("poorly_differentiated")
    if record.hereditary_syndrome is not None:
        reasons.append("hereditary_syndrome")
    if record.margin == "R2":
        reasons.append("margin_r2")
    if record.primary_site == "other":
        reasons.append("site_other")
    elif record.primary_site not in covered_sites:
        reasons.append("site_not_covered")
    return tuple(reasons)


def data_issues(record: PatientRecord, risk: RiskAssessment, as_of: date, qualifying: Collection[str]
                ) -> tuple[str, ...]:
    """Missing fields that matter, and imaging done in (A, as_of] that does not count under the rule."""
    issues = []
    if record.ki67_percent is None:
        issues.append("ki67_missing")
    if record.grade is None:
        issues.append("grade_missing")
    if risk.nodal_status == "not_assessed":
        issues.append("nodes_not_assessed" if _local(record) else "nodes_missing")
    if record.tumor_size_mm is None:
        issues.append("size_missing")
    if record.margin is None:
        issues.append("margin_missing")
    if record.primary_site == "stomach" and record.gastric_type is None:
        issues.append("gastric_type_missing")
    anchor = record.resection_date
    for scan in record.imaging:
        if anchor < scan.date <= as_of and scan.modality not in qualifying:
            issues.append("imaging_ignored_modality")
            break
    return tuple(issues)
