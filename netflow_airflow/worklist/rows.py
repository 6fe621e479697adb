"""Worklist rows from evaluations: the digest's words, the digest's sections, filters and sort orders.

    rows = digest_rows(evaluations, names, book=book, phi_level="minimal", worklist_url=url)
    sections = build_sections(rows, WorklistFilters(status="overdue", sort="days_overdue", order="desc"))

A row says exactly what the digest email says about the patient (netflow.domain.digest decides
every word); a patient sits in the sections its daily events would go to (escalated, overdue,
due now, due soon, high-risk flags, needs review, no surveillance planned).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from netflow.domain.digest import SECTIONS, DigestItem, DigestRow, WorklistTotals, build_digest, clean_text
from netflow.domain.evaluation import Evaluation
from netflow.domain.rules import RuleBook
from netflow.reminders.recording import team_counters
from netflow_airflow.worklist.models import WorklistFilters, WorklistRow, WorklistSection

__all__ = ["FILTER_STATUSES", "RISK_TIERS", "SORTS", "build_sections", "digest_rows", "in_sections",
           "matches", "row_status", "sort_rows"]

# (value, words) of the status filter, in section order; escalated is overdue at escalation level 2.
FILTER_STATUSES = (
    ("escalated", "Escalated"), ("overdue", "Overdue"), ("due", "Due now"), ("due_soon", "Due soon"),
    ("not_due", "Not due yet"), ("needs_review", "Needs clinician review"),
    ("not_indicated", "No surveillance planned"),
)
RISK_TIERS = ("high", "standard", "low")
_SEVERITY = {status: rank for rank, (status, _) in enumerate(FILTER_STATUSES)}
_TIER_RANK = {tier: rank for rank, tier in enumerate(RISK_TIERS)}


def row_status(evaluation: Evaluation) -> str:
    """The status as the worklist filters it: 'escalated' for overdue at escalation level 2."""
    if evaluation.status == "overdue" and evaluation.escalation_level >= 2:
        return "escalated"
    return evaluation.status


def in_sections(evaluation: Evaluation) -> list[str]:
    """The sections the patient belongs to, as their events would go to a digest."""
    if evaluation.status == "invalid":
        return []
    return [name for name in team_counters(evaluation) if name != "under_surveillance"]


def digest_rows(evaluations: Iterable[Evaluation], names: Mapping[str, str | None], *, book: RuleBook,
                phi_level: str, worklist_url: str) -> list[WorklistRow]:
    """One row per evaluation, worded by the digest and in the digest's order (most urgent first)."""
    evaluations = list(evaluations)
    if not evaluations:
        return []
    # The digest words a row the same whatever its section: build one section holding every patient.
    placeholder = SECTIONS[0][0]
    items = [DigestItem(placeholder, str(ev.patient_id), names.get(str(ev.patient_id)), ev.to_dict())
             for ev in evaluations]
    digest = build_digest(team_key="worklist", team_name="worklist", as_of=evaluations[0].as_of,
                          run_id="worklist", items=items, totals=WorklistTotals(),
                          rulesets=list(book.rulesets.values()), worklist_url=worklist_url, phi_level=phi_level)
    by_mrn: dict[str, list[Evaluation]] = {}
    for ev, item in zip(evaluations, items, strict=True):
        by_mrn.setdefault(clean_text(item.patient_id), []).append(ev)
    section = next(s for s in digest.sections if s.key == placeholder)
    return [_row(by_mrn[row.mrn].pop(0), row) for row in section.rows]


def _row(ev: Evaluation, words: DigestRow) -> WorklistRow:
    return WorklistRow(
        patient_id=str(ev.patient_id), mrn=words.mrn, name=words.display_name, status=row_status(ev),
        status_text=words.status, escalation_level=ev.escalation_level, window_open=ev.window_open,
        window_close=ev.window_close, window=words.window, days_overdue=ev.days_overdue,
        risk_tier=ev.risk_tier, risk_reasons=list(ev.risk_reasons), risk=words.risk,
        recommended_modality=ev.recommended_modality, modality=words.modality, guideline=ev.guideline,
        rule_id=ev.rule_id, rule=words.rule, last_scan=ev.last_scan, explanation=words.explanation,
    )


def matches(row: WorklistRow, filters: WorklistFilters) -> bool:
    """Whether the row passes the status, risk tier and MRN filters."""
    if filters.status and row.status != filters.status:
        return False
    if filters.risk and row.risk_tier != filters.risk:
        return False
    return not filters.q or filters.q.casefold() in row.patient_id.casefold()


def _none_last(value: Any) -> tuple[bool, Any]:
    return value is None, value


SORTS: dict[str, tuple[str, Callable[[WorklistRow], Any]]] = {
    # key: (column words, sort key); "urgency" keeps the digest's order
    "urgency": ("Urgency", lambda r: 0),
    "mrn": ("MRN", lambda r: r.patient_id),
    "name": ("Name", lambda r: r.name.casefold()),
    "status": ("Status", lambda r: (_SEVERITY.get(r.status, len(_SEVERITY)), -r.days_overdue)),
    "window": ("Window", lambda r: _none_last(r.window_open)),
    "days_overdue": ("Days overdue", lambda r: r.days_overdue),
    "risk": ("Risk", lambda r: (_TIER_RANK.get(r.risk_tier or "", len(_TIER_RANK)), -len(r.risk_reasons))),
    "modality": ("Next scan", lambda r: r.modality),
    "last_scan": ("Last scan", lambda r: _none_last(r.last_scan)),
}


def sort_rows(rows: Sequence[WorklistRow], sort: str, order: str) -> list[WorklistRow]:
    """Rows in the requested order; ties keep the digest's (most urgent first)."""
    _, key = SORTS.get(sort, SORTS["urgency"])
    return sorted(rows, key=key, reverse=order == "desc")


def build_sections(rows: Sequence[WorklistRow], evaluations: Mapping[str, Evaluation],
                   filters: WorklistFilters) -> list[WorklistSection]:
    """The seven digest sections, each counted before the filters and listing the rows that pass them."""
    members: dict[str, list[WorklistRow]] = {key: [] for key, _ in SECTIONS}
    for row in rows:
        for key in in_sections(evaluations[row.patient_id]):
            members[key].append(row)
    return [WorklistSection(key=key, title=title, count=len(members[key]),
                            rows=sort_rows([r for r in members[key] if matches(r, filters)],
                                           filters.sort, filters.order))
            for key, title in SECTIONS]
