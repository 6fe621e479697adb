"""Follow-up actions a care team records about a patient, and their withdrawal.

    fu = record_follow_up(inst, patient_id="MRN1", request={"action": "scan_booked", "date": "2027-01-10"},
                          user="jdoe", as_of=date(2026, 12, 7))       # FollowUpError (InputError) names a bad field
    fu.describe()                                                     # "booked for 2027-01-10 by jdoe"
    withdraw_follow_up(inst, patient_id="MRN1", follow_up_id=fu.id, user="jdoe")
    follow_ups_for(inst, "MRN1")                                      # newest first, withdrawals included
    current_follow_ups(inst, ["MRN1", "MRN2"], as_of)                 # {patient_id: the one a row shows}

Each action is recorded with its audit row in one transaction. `done_elsewhere` also stores the scan as an
imaging entry (source "navigator", source_key "follow_up/<id>") in that transaction: the engine counts it as
any other scan, and imports never delete imaging. If the patient already has imaging of that date and
modality, that entry stands and no second one is stored.

A withdrawal is a new row; the withdrawn action has no effect on reminders from then on. Withdrawing a
`done_elsewhere` also takes off the imaging entry that action stored (source "navigator", its own
source_key), so a scan entered in error stops silencing the patient's reminders at once; a scan of the same
date and modality that was already on record (from an import) stays. The withdrawal row's note says which.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

from netflow.domain.followups import WITHDRAWN, FollowUp, FollowUpError, check_request, current
from netflow.domain.record import Scan
from netflow.installation import Installation
from netflow.services.audit import check_user

__all__ = ["current_follow_ups", "follow_ups_for", "record_follow_up", "withdraw_follow_up"]

NAVIGATOR = "navigator"  # imaging_studies.source of a scan recorded as done elsewhere


def record_follow_up(inst: Installation, *, patient_id: str, request: Mapping[str, object], user: str,
                     as_of: date) -> FollowUp:
    """Check the request against `as_of` and record it, with its audit row (and for done_elsewhere its imaging
    entry), in one transaction. FollowUpError (an InputError) names the field at fault: a request field (a scan
    done elsewhere must also be dated after the resection), or `patient_id` when no such patient is stored;
    nothing is written then."""
    checked = check_request(request, as_of)
    name = check_user(user)
    with inst.db.transaction() as tx:
        record = tx.patients.find_record(patient_id)
        if record is None:
            raise FollowUpError("patient_id", "no patient with this id is stored")
        if checked.action == "done_elsewhere" and checked.date is not None and checked.date <= record.resection_date:
            raise FollowUpError("date", "must be after the patient's resection (an earlier scan is no surveillance)")
        follow_up = tx.follow_ups.add_follow_up(
            patient_id=patient_id, care_team=record.care_team, action=checked.action, date=checked.date,
            until=checked.until, modality=checked.modality, reason=checked.reason, note=checked.note,
            recorded_by=name)
        if checked.action == "done_elsewhere":
            assert checked.date is not None and checked.modality is not None
            scan = Scan(checked.date, checked.modality, source=NAVIGATOR, source_key=f"follow_up/{follow_up.id}")
            tx.patients.add_imaging([(patient_id, scan)], follow_up.recorded_at)
        tx.follow_ups.add_audit(username=name, action="follow_up", patient_id=patient_id,
                                team_key=record.care_team, detail=f"{checked.action} {follow_up.id}",
                                at=follow_up.recorded_at)
    return follow_up


def withdraw_follow_up(inst: Installation, *, patient_id: str, follow_up_id: int, user: str) -> FollowUp:
    """Withdraw one of the patient's actions: a new "withdrawn" row naming it, with its audit row, in one
    transaction. FollowUpError naming `follow_up_id` when the patient has no such action, it is a withdrawal
    itself, or it is withdrawn already."""
    name = check_user(user)
    with inst.db.transaction() as tx:
        target = tx.follow_ups.follow_up(follow_up_id)
        if target is None or target.patient_id != patient_id:
            raise FollowUpError("follow_up_id", "this patient has no follow-up action with this id")
        if target.action == WITHDRAWN:
            raise FollowUpError("follow_up_id", "a withdrawal cannot be withdrawn")
        if any(f.withdraws == follow_up_id for f in tx.follow_ups.follow_ups_for(patient_id)):
            raise FollowUpError("follow_up_id", "this action is withdrawn already")
        note = None
        if target.action == "done_elsewhere":
            removed = tx.patients.remove_imaging_from(patient_id, NAVIGATOR, f"follow_up/{follow_up_id}")
            note = (f"the {target.modality} scan of {target.date} entered with this action is taken off the "
                    "imaging record" if removed else
                    f"the {target.modality} scan of {target.date} was on record before this action and stays")
        withdrawal = tx.follow_ups.add_follow_up(
            patient_id=patient_id, care_team=target.care_team, action=WITHDRAWN, withdraws=follow_up_id,
            note=note, recorded_by=name)
        tx.follow_ups.add_audit(username=name, action="withdraw", patient_id=patient_id, team_key=target.care_team,
                                detail=f"withdrew {target.action} {follow_up_id}", at=withdrawal.recorded_at)
    return withdrawal


def follow_ups_for(inst: Installation, patient_id: str) -> list[FollowUp]:
    """Every action of the patient, newest first, withdrawals included (the patient page's history)."""
    return inst.db.follow_ups.follow_ups_for(patient_id)


def current_follow_ups(inst: Installation, patient_ids: Collection[str], as_of: date) -> dict[str, FollowUp]:
    """The action each of these patients' worklist rows shows on `as_of` (netflow.domain.followups.current);
    patients without one are left out. A booking counts until its date plus the longest grace period of the
    installation's rule sets (30 days in every built-in one)."""
    grace = max(ruleset.grace_days for ruleset in inst.book.rulesets.values())
    found = {}
    for patient_id, actions in inst.db.follow_ups.follow_ups_of(patient_ids).items():
        shown = current(actions, as_of, grace)
        if shown is not None:
            found[patient_id] = shown
    return found
