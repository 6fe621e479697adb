"""What the care team's follow-up actions do to a patient's reminders: applied to the events the engine's
evaluation amounts to (netflow.domain.events.decide_events), never to the evaluation itself.

    actions = db.follow_ups.follow_ups_of([str(e.patient_id) for e, _ in batch])   # one query per batch
    new.extend(apply_follow_ups(evaluation, past, decide_events(...), actions, book, result.events))

- `scan_booked` (date B): no due_soon / due / overdue / escalated event for the window the booking was made
  for while as_of <= B + the rule set's grace period. After that, if the patient is still in that window
  (no qualifying scan has moved it) and still due, one `booking_lapsed` event ("booked scan not on record",
  key "<window_open>/<B>") is recorded and the normal reminders resume the same day. A later booking in force
  for the same window keeps it quiet again.
- `deferred` (until U): no event of any reminder kind before U (`closed` is still recorded: it is no
  reminder); on U the reminders resume as the evaluation says.
- `done_elsewhere`: nothing here: its scan is in the record, the engine counts it.
- `contacted`, `note`: no effect. A withdrawn action has no effect once its withdrawal is stored.

Which window a booking was made for: nothing extra is stored. The booking is for the evaluation's window
when that window opens no later than B plus the rule set's lead time (30 days): the window the patient was
due soon, due or overdue in when the scan was booked, or the coming one the booked scan is meant for. The
booked scan itself, once on record, moves the window to its date plus at least three months, past that
bound, so the booking no longer applies. (A scan dated two months or more before B that reaches netflow
late may open a window inside the bound: the booking then holds it back too, at most until B + grace.)
The booking day plays no part, so the effect depends on the dates alone, not on the clock.

Suppressed events are not recorded, so once the action is over `decide_events` brings whatever the
evaluation says then (one event at the current severity, as for a patient first seen late). Each one
suppressed counts under `suppressed_by_follow_up` in the run's event counts (no patient data).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

from netflow.domain.evaluation import Evaluation
from netflow.domain.events import WINDOW_KINDS, NewEvent, PastEvent, window_kind
from netflow.domain.followups import FollowUp, withdrawn_ids
from netflow.domain.rules import RuleBook, RuleSet

__all__ = ["LAPSED", "SUPPRESSED", "apply_follow_ups"]

SUPPRESSED = "suppressed_by_follow_up"  # the run's count of events a follow-up action held back
LAPSED = "booking_lapsed"


def apply_follow_ups(evaluation: Evaluation, past: Iterable[PastEvent], decided: list[NewEvent],
                     follow_ups: Mapping[str, Sequence[FollowUp]], book: RuleBook, counts: Counter[str]
                     ) -> list[NewEvent]:
    """The events to record for this patient once their follow-up actions are applied to `decided` (what
    decide_events said); `counts[SUPPRESSED]` grows by the number held back."""
    actions = follow_ups.get(str(evaluation.patient_id))
    if not actions or evaluation.status == "invalid":
        return decided
    gone = withdrawn_ids(actions)
    standing = [a for a in actions if a.id not in gone]
    rules = _ruleset(book, evaluation)
    as_of = evaluation.as_of
    events = list(decided)
    bookings = [a for a in standing if a.action == "scan_booked" and _covers(a, evaluation, rules.lead_days)]
    grace = timedelta(days=rules.grace_days)
    if any(as_of <= b.date + grace for b in bookings if b.date is not None):
        events = [e for e in events if e.kind not in WINDOW_KINDS]
    else:
        lapsed = _lapse(evaluation, bookings, past, rules)
        if lapsed is not None:
            events.append(lapsed)
    if any(a.action == "deferred" and a.until is not None and as_of < a.until for a in standing):
        events = [e for e in events if e.kind == "closed"]
    counts[SUPPRESSED] += len(decided) - len([e for e in events if e.kind != LAPSED])
    return events


def _ruleset(book: RuleBook, evaluation: Evaluation) -> RuleSet:
    guideline = evaluation.guideline
    return book[guideline] if guideline is not None and guideline in book.ids else book[book.default]


def _covers(booking: FollowUp, evaluation: Evaluation, lead_days: int) -> bool:
    """Whether the booking was made for the evaluation's window (see the module docstring)."""
    opens = evaluation.window_open
    if opens is None or booking.date is None:
        return False
    return bool(opens <= booking.date + timedelta(days=lead_days))


def _lapse(evaluation: Evaluation, bookings: list[FollowUp], past: Iterable[PastEvent], rules: RuleSet
           ) -> NewEvent | None:
    """One booking_lapsed event for the latest booking of this window, once, while the patient is still due."""
    dates = [b.date for b in bookings if b.date is not None]
    if not dates or window_kind(evaluation) is None or evaluation.window_open is None:
        return None
    booked = max(dates)
    key = f"{evaluation.window_open.isoformat()}/{booked.isoformat()}"
    if any(e.kind == LAPSED and e.key == key for e in past):
        return None
    booking = next(b for b in bookings if b.date == booked)
    assert isinstance(evaluation.patient_id, str) and evaluation.care_team is not None
    payload = evaluation.to_dict()
    payload["rules_version"] = rules.version
    payload["booked_for"] = booked.isoformat()
    payload["booked_by"] = booking.recorded_by
    payload["follow_up_id"] = booking.id
    payload["explanation"] = (f"Booked scan not on record: {booking.recorded_by} booked a scan for "
                              f"{booked.isoformat()}, and no qualifying scan is on record {rules.grace_days} days "
                              f"after that date. {evaluation.explanation}")
    return NewEvent(evaluation.patient_id, evaluation.care_team, LAPSED, key, evaluation.window_open, payload)
