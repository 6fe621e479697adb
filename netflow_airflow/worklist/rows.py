"""Worklist rows from evaluations: the digest's words, the digest's sections, filters and sort orders.

    rows = digest_rows(evaluations, names, book=book, phi_level="minimal", worklist_url=url)
    rows = entry_rows(page.entries, book=book, phi_level="minimal", worklist_url=url)   # + ref, follow-up
    sections = build_sections(rows, WorklistFilters(status="overdue", sort="days_overdue", order="desc"))

A row says exactly what the digest email says about the patient (netflow.domain.digest decides
every word); a patient sits in the sections its daily events would go to (escalated, overdue,
due now, due soon, high-risk flags, needs review, no surveillance planned).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from netflow.domain.digest import SECTIONS, DigestItem, DigestRow, clean_text
from netflow.domain.digest_rows import digest_row
from netflow.domain.evaluation import Evaluation
from netflow.domain.followups import FollowUp
from netflow.domain.rules import RuleBook
from netflow.reminders.recording import team_counters
from netflow.services.worklist import FOLLOW_UP_FILTERS, STATUSES, WorklistEntry, row_status
from netflow_airflow.worklist.models import FollowUpModel, WorklistFilters, WorklistRow, WorklistSection

__all__ = ["FILTER_STATUSES", "FOLLOW_UP_WORDS", "RISK_TIERS", "SORTS", "build_sections", "digest_rows",
           "entry_rows", "follow_up_model", "in_sections", "matches", "row_status", "sort_rows"]

STATUS_WORDS = {
    "escalated": "Escalated", "overdue": "Overdue", "due": "Due now", "due_soon": "Due soon",
    "not_due": "Not due yet", "needs_review": "Needs clinician review", "not_indicated": "No surveillance planned",
    "completed": "Surveillance completed", "inactive": "Inactive", "invalid": "Record invalid",
}
# (value, words) of the status filter, in order of urgency; escalated is overdue at escalation level 2.
FILTER_STATUSES = tuple((status, STATUS_WORDS[status]) for status in STATUSES)
FOLLOW_UP_WORDS = dict(zip(FOLLOW_UP_FILTERS, (
    "No follow-up recorded", "Any follow-up", "Scan booked", "Done elsewhere", "Deferred", "Contacted", "Note"),
    strict=True))
RISK_TIERS = ("high", "standard", "low")
_SEVERITY = {status: rank for rank, (status, _) in enumerate(FILTER_STATUSES)}
_TIER_RANK = {tier: rank for rank, tier in enumerate(RISK_TIERS)}


def follow_up_model(follow_up: FollowUp, withdrawn: bool = False) -> FollowUpModel:
    return FollowUpModel(
        id=follow_up.id, action=follow_up.action, date=follow_up.date, until=follow_up.until,
        modality=follow_up.modality, reason=None if follow_up.reason is None else clean_text(follow_up.reason),
        note=None if follow_up.note is None else clean_text(follow_up.note), withdraws=follow_up.withdraws,
        user=clean_text(follow_up.recorded_by), recorded_at=follow_up.recorded_at,
        text=clean_text(follow_up.describe()), withdrawn=withdrawn)


def in_sections(evaluation: Evaluation) -> list[str]:
    """The sections the patient belongs to, as their events would go to a digest."""
    if evaluation.status == "invalid":
        return []
    return [name for name in team_counters(evaluation) if name != "under_surveillance"]


def _label(short_name: str) -> str:
    """The guideline as the digest names it: 'NCCN', 'CommNETS/NANETS consensus' (no leading 'the')."""
    return short_name[4:] if short_name.lower().startswith("the ") else short_name


def digest_rows(evaluations: Iterable[Evaluation], names: Mapping[str, str | None], *, book: RuleBook,
                phi_level: str, worklist_url: str) -> list[WorklistRow]:
    """One row per evaluation, in the order given, worded as the digest words it (every row: no cap)."""
    labels = {rs.id: _label(rs.short_name) for rs in book.rulesets.values()}
    patients = f"{worklist_url.rstrip('/')}/patients/"
    return [_row(ev, digest_row(DigestItem(SECTIONS[0][0], str(ev.patient_id), names.get(str(ev.patient_id)),
                                           ev.to_dict()), labels, phi_level, patients))
            for ev in evaluations]


def entry_rows(entries: Sequence[WorklistEntry], *, book: RuleBook, phi_level: str, worklist_url: str
               ) -> list[WorklistRow]:
    """The worklist's entries as rows, in their order, with their page reference and follow-up in force."""
    rows = digest_rows([e.evaluation for e in entries], {str(e.evaluation.patient_id): e.name for e in entries},
                       book=book, phi_level=phi_level, worklist_url=worklist_url)
    for row, entry in zip(rows, entries, strict=True):
        row.ref = entry.ref
        row.care_team = entry.evaluation.care_team or ""
        row.follow_up = None if entry.follow_up is None else follow_up_model(entry.follow_up)
    return rows


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
    if filters.status and row.status != filters.status and not (
            filters.overdue_min_days is not None and filters.status == "overdue" and row.status == "escalated"):
        return False
    if filters.overdue_min_days is not None and row.days_overdue < filters.overdue_min_days:
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
