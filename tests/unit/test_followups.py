"""Follow-up actions: what each action needs, how it reads, which ones are in force. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from netflow.domain.followups import (
    FollowUp,
    FollowUpError,
    FollowUpRequest,
    active,
    check_request,
    current,
)
from netflow.errors import InputError

AS_OF = date(2026, 12, 7)


def fails_on(raw: dict[str, Any]) -> FollowUpError:
    with pytest.raises(FollowUpError) as raised:
        check_request(raw, AS_OF)
    return raised.value


@pytest.mark.parametrize(("raw", "field", "says"), [
    ({}, "action", "is required"),
    ({"action": "cancelled"}, "action", "is not one of the actions"),
    ({"action": ["note"]}, "action", "is not one of the actions"),
    ({"action": "scan_booked"}, "date", "is required for scan_booked"),
    ({"action": "scan_booked", "date": ""}, "date", "is required for scan_booked"),
    ({"action": "scan_booked", "date": "10/01/2027"}, "date", "must be a date as YYYY-MM-DD"),
    ({"action": "scan_booked", "date": "2027-02-30"}, "date", "must be a date as YYYY-MM-DD"),
    ({"action": "scan_booked", "date": "2028-12-08"}, "date", "within 24 months of 2026-12-07"),
    ({"action": "scan_booked", "date": "2024-12-06"}, "date", "within 24 months of 2026-12-07"),
    ({"action": "scan_booked", "date": "2027-01-10", "until": "2027-02-01"}, "until", "does not apply"),
    ({"action": "done_elsewhere", "modality": "CT"}, "date", "is required for done_elsewhere"),
    ({"action": "done_elsewhere", "date": "2026-11-02"}, "modality", "is required for done_elsewhere"),
    ({"action": "done_elsewhere", "date": "2026-12-08", "modality": "CT"}, "date", "must not be after 2026-12-07"),
    ({"action": "done_elsewhere", "date": "1990-01-01", "modality": "CT"}, "date", "within 20 years"),
    ({"action": "done_elsewhere", "date": "2026-11-02", "modality": "PET"}, "modality", "must be one of CT, MRI"),
    ({"action": "deferred", "reason": "patient abroad"}, "until", "is required for deferred"),
    ({"action": "deferred", "until": "2027-03-01"}, "reason", "is required for deferred"),
    ({"action": "deferred", "until": "2026-12-07", "reason": "r"}, "until", "must be after 2026-12-07"),
    ({"action": "deferred", "until": "2027-12-08", "reason": "r"}, "until", "no later than 2027-12-07"),
    ({"action": "deferred", "until": "2027-03-01", "reason": "   "}, "reason", "is required"),
    ({"action": "note"}, "note", "is required for note"),
    ({"action": "note", "note": "x" * 2001}, "note", "at most 2000 characters"),
    ({"action": "note", "note": "call\x07back"}, "note", "must not contain control characters"),
    ({"action": "note", "note": "abc\u202edef"}, "note", "must not contain control characters"),
    ({"action": "note", "note": 12}, "note", "must be text"),
    ({"action": "contacted", "modality": "CT"}, "modality", "does not apply to contacted"),
    ({"action": "contacted", "user": "mallory"}, "user", "is not a follow-up field"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_each_missing_or_wrong_field_is_named(raw: dict[str, Any], field: str, says: str) -> None:
    error = fails_on(raw)
    assert error.field == field
    assert says in str(error)
    assert str(error).startswith(f"{field}: ")


def test_a_follow_up_error_is_an_input_error_with_one_line() -> None:
    error = fails_on({"action": "scan_booked"})
    assert isinstance(error, InputError)
    assert "\n" not in str(error)


def test_each_action_with_its_fields_is_accepted() -> None:
    assert check_request({"action": "scan_booked", "date": "2027-01-10", "note": " rad. 3 "}, AS_OF) == \
        FollowUpRequest("scan_booked", date=date(2027, 1, 10), note="rad. 3")
    assert check_request({"action": "done_elsewhere", "date": "2026-11-02", "modality": "MRI"}, AS_OF) == \
        FollowUpRequest("done_elsewhere", date=date(2026, 11, 2), modality="MRI")
    assert check_request({"action": "deferred", "until": "2027-12-07", "reason": "abroad"}, AS_OF) == \
        FollowUpRequest("deferred", until=date(2027, 12, 7), reason="abroad")
    assert check_request({"action": "contacted", "date": None, "until": ""}, AS_OF) == FollowUpRequest("contacted")
    assert check_request({"action": "note", "note": "line one\r\nline two\tend"}, AS_OF) == \
        FollowUpRequest("note", note="line one\nline two\tend")


def test_a_date_object_is_taken_as_it_is() -> None:
    assert check_request({"action": "scan_booked", "date": date(2027, 1, 10)}, AS_OF).date == date(2027, 1, 10)


def follow_up(id: int, action: str, *, on: date = AS_OF, withdraws: int | None = None, **fields: Any) -> FollowUp:
    values: dict[str, Any] = {"date": None, "until": None, "modality": None, "reason": None, "note": None}
    values.update(fields)
    return FollowUp(id=id, patient_id="MRN1", care_team="east", action=action, withdraws=withdraws,
                    recorded_by="jdoe", recorded_at=datetime(on.year, on.month, on.day, 9, 30, tzinfo=UTC), **values)


def test_each_action_describes_itself_in_one_line_with_who() -> None:
    assert follow_up(1, "scan_booked", date=date(2027, 1, 10)).describe() == "booked for 2027-01-10 by jdoe"
    assert follow_up(2, "deferred", until=date(2027, 3, 1), reason="patient abroad").describe() == \
        "deferred until 2027-03-01 (patient abroad) by jdoe"
    assert follow_up(3, "done_elsewhere", date=date(2026, 11, 2), modality="MRI").describe() == \
        "MRI done elsewhere on 2026-11-02, recorded by jdoe"
    assert follow_up(4, "contacted").describe() == "contacted on 2026-12-07 by jdoe"
    assert follow_up(5, "withdrawn", withdraws=1).describe() == "withdrew action 1 on 2026-12-07, by jdoe"
    assert follow_up(6, "note", note="asked\nto call back").describe() == \
        "note by jdoe on 2026-12-07: asked to call back"


def test_a_booking_is_in_force_until_its_date_plus_the_grace_period() -> None:
    booked = follow_up(1, "scan_booked", date=date(2027, 1, 10))
    assert active([booked], date(2027, 2, 9)) == [booked]
    assert active([booked], date(2027, 2, 10)) == []
    assert active([booked], date(2027, 2, 19), grace_days=40) == [booked]


def test_a_deferral_is_in_force_before_its_until_date_only() -> None:
    deferred = follow_up(1, "deferred", until=date(2027, 3, 1), reason="abroad")
    assert active([deferred], date(2027, 2, 28)) == [deferred]
    assert active([deferred], date(2027, 3, 1)) == []


def test_a_withdrawn_action_and_the_withdrawal_are_not_active() -> None:
    booked = follow_up(1, "scan_booked", date=date(2027, 1, 10))
    note = follow_up(2, "note", note="called")
    withdrawal = follow_up(3, "withdrawn", withdraws=1)
    assert active([withdrawal, note, booked], AS_OF) == [note]


def test_a_row_shows_the_booking_rather_than_a_later_note() -> None:
    booked = follow_up(1, "scan_booked", date=date(2027, 1, 10))
    note = follow_up(2, "note", on=date(2026, 12, 8), note="parking")
    assert current([note, booked], AS_OF) == booked
    assert current([note, booked], date(2027, 3, 1)) == note
    assert current([follow_up(3, "withdrawn", withdraws=2), note], AS_OF) is None
