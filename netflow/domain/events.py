"""Which events a run records for a patient (reminders spec, section 1). Pure: no database.

A window event is recorded only when the evaluation reaches a severity not yet recorded for
that window (due_soon < due < overdue < escalated); a patient first seen 120 days overdue gets
one `escalated` event, not four. High-risk flags are recorded again only when the set of
reasons changes. A window that had events is `closed` when a newer qualifying scan meets it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from netflow.domain.evaluation import WINDOW_STATUSES, Evaluation

__all__ = ["EVENT_KINDS", "WINDOW_KINDS", "SEVERITY", "PastEvent", "NewEvent", "window_kind", "decide_events"]

WINDOW_KINDS = ("due_soon", "due", "overdue", "escalated")
SEVERITY = {kind: rank for rank, kind in enumerate(WINDOW_KINDS, start=1)}
EVENT_KINDS = (*WINDOW_KINDS, "high_risk", "needs_review", "not_indicated", "closed")


@dataclass(frozen=True, slots=True)
class PastEvent:
    """An event already recorded for the patient, as the decision needs it."""

    kind: str
    key: str
    last_scan: date | None = None  # the scan the window was counted from (None: the resection)
    window_close: date | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to record; `key` completes the unique key (patient_id, kind, key)."""

    patient_id: str
    care_team: str
    kind: str
    key: str
    window_open: date | None
    payload: dict[str, Any]


def window_kind(evaluation: Evaluation) -> str | None:
    """The window event an evaluation amounts to, if any."""
    status = evaluation.status
    if status == "overdue":
        return "escalated" if evaluation.escalation_level >= 2 else "overdue"
    if status in ("due", "due_soon"):
        return status
    return None


def _event(evaluation: Evaluation, kind: str, key: str, payload: dict[str, Any] | None = None) -> NewEvent:
    assert isinstance(evaluation.patient_id, str) and evaluation.care_team is not None
    return NewEvent(
        patient_id=evaluation.patient_id,
        care_team=evaluation.care_team,
        kind=kind,
        key=key,
        window_open=evaluation.window_open,
        payload=payload if payload is not None else evaluation.to_dict(),
    )


def _closures(evaluation: Evaluation, history: list[PastEvent]) -> list[NewEvent]:
    scan = evaluation.last_scan
    if scan is None:
        return []
    closed = {e.key for e in history if e.kind == "closed"}
    windows: dict[str, PastEvent] = {}
    for past in history:
        if past.kind in SEVERITY and past.key not in closed:
            best = windows.get(past.key)
            if best is None or SEVERITY[past.kind] > SEVERITY[best.kind]:
                windows[past.key] = past
    found = []
    for key, past in sorted(windows.items()):
        if past.last_scan is None or scan > past.last_scan:
            payload = {
                "patient_id": evaluation.patient_id,
                "window_open": key,
                "window_close": past.window_close.isoformat() if past.window_close else None,
                "closed_by_scan": scan.isoformat(),
                "most_severe": past.kind,
                "as_of": evaluation.as_of.isoformat(),
            }
            found.append(NewEvent(str(evaluation.patient_id), str(evaluation.care_team), "closed", key,
                                  date.fromisoformat(key), payload))
    return found


def decide_events(evaluation: Evaluation, history: Iterable[PastEvent]) -> list[NewEvent]:
    """The events to record now for one patient's evaluation, given the events already recorded."""
    if evaluation.status == "invalid":
        return []
    past = list(history)
    recorded = {(e.kind, e.key) for e in past}
    new = _closures(evaluation, past) if past else []
    kind = window_kind(evaluation)
    if kind is not None and evaluation.window_open is not None:
        key = evaluation.window_open.isoformat()
        top = max((SEVERITY[e.kind] for e in past if e.key == key and e.kind in SEVERITY), default=0)
        if SEVERITY[kind] > top and ("closed", key) not in recorded:
            new.append(_event(evaluation, kind, key))
    if evaluation.status in WINDOW_STATUSES and evaluation.risk_tier == "high":
        key = ",".join(sorted(evaluation.risk_reasons))
        if ("high_risk", key) not in recorded:
            new.append(_event(evaluation, "high_risk", key))
    elif evaluation.status == "needs_review":
        key = ",".join(evaluation.review_reasons)
        if ("needs_review", key) not in recorded:
            new.append(_event(evaluation, "needs_review", key))
    elif evaluation.status == "not_indicated" and ("not_indicated", "") not in recorded:
        new.append(_event(evaluation, "not_indicated", ""))
    return new
