"""The evaluation of one patient on one date (spec section 7)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from netflow.domain.record import FieldError

__all__ = ["STATUSES", "WINDOW_STATUSES", "Evaluation"]

STATUSES = (
    "invalid", "inactive", "needs_review", "not_indicated", "completed",
    "not_due", "due_soon", "due", "overdue",
)
WINDOW_STATUSES = ("not_due", "due_soon", "due", "overdue")


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


# The stdlib encoder, for what orjson refuses: an invalid record's odd patient_id (an integer past 64 bits,
# NaN) or text with a lone surrogate. Same compact layout as orjson's.
_STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(slots=True, unsafe_hash=True)
class Evaluation:
    """Where one patient stands on `as_of`, and why.

    `to_dict()` gives the spec's output object, field for field and in the spec's order; `to_json()`
    the same object as one line of JSON (bytes, no newline). `care_team` rides along for the
    reminders; it is not an output field. A value: never change one after it is built (not frozen
    only because frozen construction is slow, issue 13).
    """

    patient_id: Any
    as_of: date
    status: str
    guideline: str | None = None
    rule_id: str | None = None
    risk_tier: str | None = None
    risk_reasons: tuple[str, ...] = ()
    last_scan: date | None = None
    window_open: date | None = None
    window_close: date | None = None
    interval_months: tuple[int, int] | None = None
    days_overdue: int = 0
    escalation_level: int = 0
    recommended_modality: str | None = None
    data_issues: tuple[str, ...] = ()
    errors: tuple[FieldError, ...] = ()
    explanation: str = ""
    review_reasons: tuple[str, ...] = ()
    care_team: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "as_of": self.as_of.isoformat(),
            "guideline": self.guideline,
            "rule_id": self.rule_id,
            "status": self.status,
            "risk_tier": self.risk_tier,
            "risk_reasons": list(self.risk_reasons),
            "review_reasons": list(self.review_reasons),
            "last_scan": _iso(self.last_scan),
            "window_open": _iso(self.window_open),
            "window_close": _iso(self.window_close),
            "interval_months": None if self.interval_months is None else list(self.interval_months),
            "days_overdue": self.days_overdue,
            "escalation_level": self.escalation_level,
            "recommended_modality": self.recommended_modality,
            "data_issues": list(self.data_issues),
            "errors": [e.to_dict() for e in self.errors],
            "explanation": self.explanation,
        }

    def to_json(self) -> bytes:
        """`to_dict()` as one line of compact JSON, UTF-8 (orjson writes dates, tuples and FieldErrors itself)."""
        try:
            if self.patient_id is None or type(self.patient_id) is str:
                return orjson.dumps({
                    "patient_id": self.patient_id, "as_of": self.as_of, "guideline": self.guideline,
                    "rule_id": self.rule_id, "status": self.status, "risk_tier": self.risk_tier,
                    "risk_reasons": self.risk_reasons, "review_reasons": self.review_reasons,
                    "last_scan": self.last_scan, "window_open": self.window_open, "window_close": self.window_close,
                    "interval_months": self.interval_months, "days_overdue": self.days_overdue,
                    "escalation_level": self.escalation_level, "recommended_modality": self.recommended_modality,
                    "data_issues": self.data_issues, "errors": self.errors, "explanation": self.explanation,
                })
        except orjson.JSONEncodeError:
            pass
        return _STDLIB(self.to_dict()).encode("utf-8", "backslashreplace")
