"""Which events a run records for a patient (reminders spec, section 1). Pure: no database.

A window event is recorded only when the evaluation reaches a severity not yet recorded for
that window (due_soon < due < overdue < escalated); a patient first seen 120 days overdue gets
one `escalated` event, not four. High-risk flags are recorded again only when the set of
reasons changes. A window that had events is `closed` when a newer qualifying scan meets it.

When the rules change (a new netflow rules version, or an institution's edited rule file: the
rule set's `version`), a patient whose plan (rule, or status without a rule) differs from the
plan of their last recorded event gets one `plan_changed` event, saying the old plan and the
new; the digest shows that patient in its own section rather than as a sudden new overdue or
escalated row (netflow.reminders.digests).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from netflow.domain.evaluation import WINDOW_STATUSES, Evaluation

__all__ = ["EVENT_KINDS", "WINDOW_KINDS", "SEVERITY", "PastEvent", "NewEvent", "window_kind", "decide_events",
           "plan_of"]

WINDOW_KINDS = ("due_soon", "due", "overdue", "escalated")
SEVERITY = {kind: rank for rank, kind in enumerate(WINDOW_KINDS, start=1)}
# Review reasons recorded under rules v1 by another name: the team was told already.
LEGACY_REVIEW_CODES = {"nec": "poorly_differentiated"}
# booking_lapsed: a scan booked as a follow-up action is not on record by its date plus the grace period
# (recorded by the reminder layer, netflow/reminders/follow_ups.py; key "<window_open>/<booked date>").
EVENT_KINDS = (*WINDOW_KINDS, "high_risk", "needs_review", "not_indicated", "plan_changed", "closed",
               "booking_lapsed")


@dataclass(frozen=True, slots=True)
class PastEvent:
    """An event already recorded for the patient, as the decision needs it."""

    kind: str
    key: str
    last_scan: date | None = None  # the scan the window was counted from (None: the resection)
    window_close: date | None = None
    plan: str | None = None  # the evaluation's rule_id, else its status (None for a closed event)
    rules_version: str | None = None  # the rule set version it was decided under (None: before v2)
    as_of: date | None = None


def plan_of(evaluation: Evaluation) -> str:
    """A patient's plan: the rule that applies, else the status when no rule does (needs_review...)."""
    return evaluation.rule_id or evaluation.status


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


def _event(evaluation: Evaluation, kind: str, key: str, rules_version: str | None) -> NewEvent:
    assert isinstance(evaluation.patient_id, str) and evaluation.care_team is not None
    payload = evaluation.to_dict()
    if rules_version is not None:
        payload["rules_version"] = rules_version
    return NewEvent(
        patient_id=evaluation.patient_id,
        care_team=evaluation.care_team,
        kind=kind,
        key=key,
        window_open=evaluation.window_open,
        payload=payload,
    )


def _plan_change(evaluation: Evaluation, past: list[PastEvent], rules_version: str | None) -> NewEvent | None:
    """One `plan_changed` event when the rules changed since the last event and the plan with them."""
    if rules_version is None:
        return None
    decided = [e for e in past if e.plan is not None]
    if not decided:
        return None
    last = max(decided, key=lambda e: e.as_of or date.min)
    plan = plan_of(evaluation)
    if last.rules_version == rules_version or last.plan == plan:
        return None
    event = _event(evaluation, "plan_changed", rules_version[:200], rules_version)
    if ("plan_changed", event.key) in {(e.kind, e.key) for e in past}:
        return None
    event.payload["previous_plan"] = last.plan
    event.payload["explanation"] = (f"The surveillance rules were updated ({rules_version}): the plan was "
                                    f"{last.plan}, it is now {plan}. {evaluation.explanation}")
    return event


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


def decide_events(evaluation: Evaluation, history: Iterable[PastEvent], rules_version: str | None = None
                  ) -> list[NewEvent]:
    """The events to record now for one patient's evaluation, given the events already recorded.

    `rules_version`: the version of the rule set that decided the evaluation, kept with each event
    so that a later rules update can tell whose plan it changed."""
    if evaluation.status == "invalid":
        return []
    past = list(history)
    recorded = {(e.kind, e.key) for e in past}
    new = _closures(evaluation, past) if past else []
    changed = _plan_change(evaluation, past, rules_version) if past else None
    if changed is not None:
        new.append(changed)
    kind = window_kind(evaluation)
    if kind is not None and evaluation.window_open is not None:
        key = evaluation.window_open.isoformat()
        top = max((SEVERITY[e.kind] for e in past if e.key == key and e.kind in SEVERITY), default=0)
        if SEVERITY[kind] > top and ("closed", key) not in recorded:
            new.append(_event(evaluation, kind, key, rules_version))
    if evaluation.status in WINDOW_STATUSES and evaluation.risk_tier == "high":
        key = ",".join(sorted(evaluation.risk_reasons))
        if ("high_risk", key) not in recorded:
            new.append(_event(evaluation, "high_risk", key, rules_version))
    elif evaluation.status == "needs_review":
        key = ",".join(evaluation.review_reasons)
        told = {",".join(LEGACY_REVIEW_CODES.get(c, c) for c in k.split(",")) for kind, k in recorded
                if kind == "needs_review"}
        if key not in told:
            new.append(_event(evaluation, "needs_review", key, rules_version))
    elif evaluation.status == "not_indicated" and ("not_indicated", "") not in recorded:
        new.append(_event(evaluation, "not_indicated", "", rules_version))
    return new
