"""When can a patient's evaluation change? The first date after the as-of date, from the record alone.

    evaluation = evaluate_stored(record, date(2026, 12, 1), book)
    next_change(record, evaluation, book[evaluation.guideline])   # e.g. date(2027, 1, 15), or None: never
    standing_of(evaluation, book[evaluation.guideline], record)   # the summary a daily run keeps

Between two dates an evaluation changes only when the record changes or the date crosses one of its
boundaries (surveillance rules, sections 2, 4 and 6):

- the resection date (not yet resected: inactive) and an inactive status's status_date;
- an imaging entry's date (a scan enters the window: last_scan, imaging_ignored_modality);
- the window's open minus the lead (due_soon), its open (due), the day after close plus the grace
  (overdue) and the day escalation reaches level 2.

The rest does not move with the date: the risk tier, review reasons and rule are properties of the
record; the early phase and the horizon are counted from L and A (section 5.1: "the as-of date plays no
part"); the modality depends on the age at the window's opening, not on the as-of date, so a birthday
changes it only through a new window, that is a new scan. `days_overdue` and the explanation's day
counts change every day while overdue; they are derived from the window and the date (`Standing`
keeps `overdue_from` for that), and no event or team total depends on them.

Erring early is safe (the patient is only evaluated again); erring late would miss an event, so the
property test in tests/integration/test_incremental.py compares incremental runs with full ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from netflow.domain.evaluation import WINDOW_STATUSES, Evaluation
from netflow.domain.record import INACTIVE_STATUSES, PatientRecord
from netflow.domain.rules import RuleBook, RuleSet

__all__ = ["Standing", "next_change", "rules_fingerprint", "standing_of"]


def _window_boundaries(evaluation: Evaluation, rules: RuleSet) -> list[date]:
    """The dates on which a window status moves on: due_soon, due, overdue, escalated (level 2)."""
    opens, closes = evaluation.window_open, evaluation.window_close
    if evaluation.status not in WINDOW_STATUSES or opens is None or closes is None:
        return []
    overdue_from = closes + timedelta(days=rules.grace_days)
    return [opens - timedelta(days=rules.lead_days), opens, overdue_from + timedelta(days=1),
            overdue_from + timedelta(days=rules.escalation_days)]


def next_change(record: PatientRecord, evaluation: Evaluation, rules: RuleSet | None) -> date | None:
    """The first date after `evaluation.as_of` on which the evaluation of `record` can differ; None: not
    until the record (or the rules) change. `rules` is the rule set that decided it (None when invalid)."""
    as_of = evaluation.as_of
    candidates = [record.resection_date]
    if record.status in INACTIVE_STATUSES and record.status_date is not None:
        candidates.append(record.status_date)
    candidates.extend(scan.date for scan in record.imaging)
    if rules is not None:
        candidates.extend(_window_boundaries(evaluation, rules))
    later = [d for d in candidates if d > as_of]
    return min(later) if later else None


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one patient stands after a daily run decided their events: what the worklist, the digests'
    totals and the next run need, without the record. `overdue_from` (the window's close plus the grace)
    gives days_overdue on any date: (date - overdue_from) when positive."""

    patient_id: str
    care_team: str | None
    status: str
    guideline: str | None
    rule_id: str | None
    risk_tier: str | None
    risk_reasons: tuple[str, ...]
    review_reasons: tuple[str, ...]
    last_scan: date | None
    window_open: date | None
    window_close: date | None
    overdue_from: date | None
    escalation_level: int
    recommended_modality: str | None
    next_change: date | None
    as_of: date


def standing_of(evaluation: Evaluation, rules: RuleSet | None, record: PatientRecord) -> Standing:
    """The standing an evaluation amounts to, with the first date it can change (`next_change`)."""
    close = evaluation.window_close
    overdue_from = None if close is None or rules is None else close + timedelta(days=rules.grace_days)
    return Standing(str(evaluation.patient_id), evaluation.care_team, evaluation.status, evaluation.guideline,
                    evaluation.rule_id, evaluation.risk_tier, evaluation.risk_reasons, evaluation.review_reasons,
                    evaluation.last_scan, evaluation.window_open, close, overdue_from, evaluation.escalation_level,
                    evaluation.recommended_modality, next_change(record, evaluation, rules), evaluation.as_of)


def _canonical(value: object) -> object:
    """A JSON-able form of a rule set's parts in which sets are sorted (their iteration order is not stable)."""
    if isinstance(value, (frozenset, set)):
        return sorted(str(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (tuple, list)):
        return [_canonical(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _canonical(getattr(value, name)) for name in sorted(value.__dataclass_fields__)
                if not name.startswith("_") and name not in ("source", "summary", "path", "sources", "title")}
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def rules_fingerprint(book: RuleBook, team_guidelines: Mapping[str, str], code_version: str) -> str:
    """A digest of everything besides the record that decides an evaluation: every rule set's content and
    version, the default guideline, each team's guideline and the engine's version. A kept standing
    computed under another fingerprint is stale (a rules update re-evaluates everyone)."""
    content = {"code": code_version, "default": book.default, "teams": dict(sorted(team_guidelines.items())),
               "rulesets": {gid: _canonical(book[gid]) for gid in sorted(book.ids)}}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
