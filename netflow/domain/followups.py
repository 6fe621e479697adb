"""Follow-up actions: what the care team did about a patient's reminder, checked and described. Pure.

    request = check_request({"action": "scan_booked", "date": "2027-01-10"}, as_of)  # InputError names the field
    follow_up.describe()                       # "booked for 2027-01-10 by jdoe"
    active(follow_ups, as_of)                  # not withdrawn, still in force on as_of
    current(follow_ups, as_of)                 # the one a worklist row shows

An action is never changed or deleted: a withdrawal is a new FollowUp (action "withdrawn", `withdraws` set)
and the withdrawn action has no effect from then on. The reminder layer applies the actions
(netflow/reminders/follow_ups.py); the engine never sees them.

Limits chosen here (the issue left them open):
- scan_booked: the booked date lies within 24 months of as_of, before or after (a typo guard; a booking
  entered late may be in the past).
- done_elsewhere: the scan's date is not after as_of and not more than 20 years before it.
- deferred: `until` is after as_of and at most 12 months ahead (the issue's limit).
- free text (note, reason): at most 2,000 characters, no control characters but line breaks and tabs, no
  text-direction overrides.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from netflow.domain.dates import add_months, parse_iso_date
from netflow.domain.record import MODALITIES
from netflow.errors import InputError

__all__ = ["ACTIONS", "BOOKING_MONTHS", "DEFER_MONTHS", "DONE_ELSEWHERE_YEARS", "EFFECTIVE", "REQUEST_FIELDS",
           "TEXT_CHARS", "WITHDRAWN", "FollowUp", "FollowUpError", "FollowUpRequest", "active", "check_request",
           "current", "in_force", "withdrawn_ids"]

ACTIONS = ("scan_booked", "done_elsewhere", "deferred", "contacted", "note")
WITHDRAWN = "withdrawn"
EFFECTIVE = ("scan_booked", "deferred")  # the actions that change which reminders a patient gets
REQUEST_FIELDS = ("action", "date", "until", "modality", "reason", "note")
# The fields each action needs; `note` is optional for every action but "note".
REQUIRED = {
    "scan_booked": ("date",),
    "done_elsewhere": ("date", "modality"),
    "deferred": ("until", "reason"),
    "contacted": (),
    "note": ("note",),
}
BOOKING_MONTHS = 24
DEFER_MONTHS = 12
DONE_ELSEWHERE_YEARS = 20
TEXT_CHARS = 2000
Day = date  # the type, under a name the fields called `date` do not hide
GRACE_DAYS = 30  # the rule sets' grace period unless the caller gives its own
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # text direction overrides


class FollowUpError(InputError):
    """A follow-up request that cannot be recorded; `field` is the request field at fault."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class FollowUpRequest:
    """A checked request: the action and the fields it uses (the others None)."""

    action: str
    date: Day | None = None
    until: Day | None = None
    modality: str | None = None
    reason: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One stored action; a withdrawal is a FollowUp with action "withdrawn" and `withdraws` set."""

    id: int
    patient_id: str
    care_team: str
    action: str
    date: Day | None
    until: Day | None
    modality: str | None
    reason: str | None
    note: str | None
    withdraws: int | None
    recorded_by: str
    recorded_at: datetime

    @property
    def recorded_on(self) -> Day:
        """The UTC day the action was recorded."""
        return self.recorded_at.date()

    def describe(self) -> str:
        """One line for a worklist row or the patient page, e.g. "booked for 2027-01-10 by jdoe"."""
        by = self.recorded_by
        if self.action == "scan_booked":
            return f"booked for {_iso(self.date)} by {by}"
        if self.action == "done_elsewhere":
            return f"{self.modality} done elsewhere on {_iso(self.date)}, recorded by {by}"
        if self.action == "deferred":
            return f"deferred until {_iso(self.until)} ({self.reason}) by {by}"
        if self.action == "contacted":
            return f"contacted on {self.recorded_on.isoformat()} by {by}"
        if self.action == WITHDRAWN:
            return f"withdrew action {self.withdraws} on {self.recorded_on.isoformat()}, by {by}"
        text = " ".join((self.note or "").split())
        return f"note by {by} on {self.recorded_on.isoformat()}: {text[:80]}{'...' if len(text) > 80 else ''}"


def _iso(day: Day | None) -> str:
    return day.isoformat() if day is not None else "?"


def check_request(raw: Mapping[str, object], as_of: date) -> FollowUpRequest:
    """The request as recorded, or FollowUpError (an InputError) naming the first field at fault.

    None and blank strings count as absent. A field the action does not use must be absent.
    """
    unknown = sorted(str(key) for key in raw if key not in REQUEST_FIELDS)
    if unknown:
        raise FollowUpError(unknown[0], f"is not a follow-up field (expected {', '.join(REQUEST_FIELDS)})")
    given = {key: value for key, value in raw.items() if value is not None and not _blank(value)}
    action = given.get("action")
    if not isinstance(action, str) or action not in REQUIRED:
        problem = "is required" if action is None else "is not one of the actions"
        raise FollowUpError("action", f"{problem} ({', '.join(ACTIONS)})")
    needed = REQUIRED[action]
    for name in needed:
        if name not in given:
            raise FollowUpError(name, f"is required for {action}")
    for name in REQUEST_FIELDS[1:]:
        if name in given and name not in needed and name != "note":
            raise FollowUpError(name, f"does not apply to {action}")
    note = _text(given, "note")
    if action == "scan_booked":
        booked = _date(given, "date")
        if not add_months(as_of, -BOOKING_MONTHS) <= booked <= add_months(as_of, BOOKING_MONTHS):
            raise FollowUpError("date", f"must be within {BOOKING_MONTHS} months of {as_of.isoformat()}")
        return FollowUpRequest(action, date=booked, note=note)
    if action == "done_elsewhere":
        done = _date(given, "date")
        if done > as_of:
            raise FollowUpError("date", f"must not be after {as_of.isoformat()} (a scan already done)")
        if done < add_months(as_of, -12 * DONE_ELSEWHERE_YEARS):
            raise FollowUpError("date", f"must be within {DONE_ELSEWHERE_YEARS} years before {as_of.isoformat()}")
        modality = given["modality"]
        if modality not in MODALITIES:
            raise FollowUpError("modality", f"must be one of {', '.join(MODALITIES)}")
        return FollowUpRequest(action, date=done, modality=str(modality), note=note)
    if action == "deferred":
        until = _date(given, "until")
        latest = add_months(as_of, DEFER_MONTHS)
        if not as_of < until <= latest:
            raise FollowUpError("until", f"must be after {as_of.isoformat()} and no later than {latest.isoformat()}")
        return FollowUpRequest(action, until=until, reason=_text(given, "reason"), note=note)
    return FollowUpRequest(action, note=note)


def _blank(value: object) -> bool:
    return isinstance(value, str) and not value.strip()


def _date(given: Mapping[str, object], name: str) -> date:
    value = given[name]
    parsed = value if isinstance(value, date) and not isinstance(value, datetime) else parse_iso_date(value)
    if parsed is None:
        raise FollowUpError(name, "must be a date as YYYY-MM-DD")
    return parsed


def _text(given: Mapping[str, object], name: str) -> str | None:
    value = given.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FollowUpError(name, "must be text")
    text = value.replace("\r\n", "\n").strip()
    if not text:
        return None
    if len(text) > TEXT_CHARS:
        raise FollowUpError(name, f"must be at most {TEXT_CHARS} characters")
    if any((unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t") or c in _BIDI for c in text):
        raise FollowUpError(name, "must not contain control characters")
    return text


def withdrawn_ids(follow_ups: Sequence[FollowUp]) -> set[int]:
    """The ids of the actions a withdrawal names."""
    return {f.withdraws for f in follow_ups if f.action == WITHDRAWN and f.withdraws is not None}


def in_force(follow_up: FollowUp, as_of: date, grace_days: int = GRACE_DAYS) -> bool:
    """Whether an action (not withdrawn) still counts on as_of: a booking until its date plus the grace
    period, a deferral before its `until` date; the other actions are kept as history and always count."""
    if follow_up.action == "scan_booked":
        return follow_up.date is not None and as_of <= follow_up.date + timedelta(days=grace_days)
    if follow_up.action == "deferred":
        return follow_up.until is not None and as_of < follow_up.until
    return follow_up.action in ACTIONS


def active(follow_ups: Sequence[FollowUp], as_of: date, grace_days: int = GRACE_DAYS) -> list[FollowUp]:
    """The actions not withdrawn and still in force on as_of, in the order given (withdrawals left out)."""
    gone = withdrawn_ids(follow_ups)
    return [f for f in follow_ups if f.id not in gone and in_force(f, as_of, grace_days)]


def current(follow_ups: Sequence[FollowUp], as_of: date, grace_days: int = GRACE_DAYS) -> FollowUp | None:
    """The action a worklist row shows: the newest booking or deferral in force, else the newest other
    action that is not withdrawn (a note added after a booking does not hide the booking)."""
    live = sorted(active(follow_ups, as_of, grace_days), key=lambda f: (f.recorded_at, f.id), reverse=True)
    return next((f for f in live if f.action in EFFECTIVE), live[0] if live else None)
