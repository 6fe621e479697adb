"""Follow-up actions in a real database: stored append-only, and their effect on the reminders that
`record_run` records, day after day (SQLite)."""

from __future__ import annotations

import inspect
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import netflow.adapters.followups as followups_adapter
from netflow.adapters.database import Database
from netflow.adapters.db import upgrade
from netflow.config import Settings
from netflow.domain.engine import evaluate_stored
from netflow.domain.followups import FollowUpError
from netflow.domain.record import Scan
from netflow.installation import Installation
from netflow.reminders.recording import record_run
from netflow.services.followups import current_follow_ups, follow_ups_for, record_follow_up, withdraw_follow_up
from netflow.services.imports import import_files
from tests.support.cohort import make_cohort
from tests.support.records import record, scan
from tests.support.smtp import SmtpTestServer

PID = "MRN0000001"
# High-risk pancreas (nodes positive), CT 2025-11-20: the window opens and closes 2026-05-20; overdue from
# 2026-06-20, escalated from 2026-09-17 (90 days overdue).
HIGH = record(patient_id=PID, nodes_positive=2, imaging=[scan("2025-11-20")])
WINDOW = "2026-05-20"


@pytest.fixture
def inst(sqlite_url: str) -> Iterator[Installation]:
    upgrade(sqlite_url)
    with Installation.from_settings(Settings(database_url=sqlite_url)) as installation:
        yield installation


def load(inst: Installation, folder: Path, *records: dict[str, Any], name: str = "patients.jsonl") -> None:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    import_files(inst, [path])


def run(inst: Installation, day: str) -> Counter[str]:
    """One recording run on `day`; the counts of what it recorded (and held back)."""
    return record_run(inst.db, inst.book, date.fromisoformat(day), f"run-{day}").events


def book(inst: Installation, on: str, **request: Any) -> int:
    return record_follow_up(inst, patient_id=PID, request=request, user="jdoe", as_of=date.fromisoformat(on)).id


def test_the_cohort_starts_overdue_and_would_escalate(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    assert run(inst, "2026-09-01") == Counter(overdue=1, high_risk=1)
    assert run(inst, "2026-09-17") == Counter(escalated=1)


def test_a_booked_scan_holds_back_the_escalation_until_the_booked_date_plus_grace(
        inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    run(inst, "2026-09-01")
    book(inst, "2026-09-01", action="scan_booked", date="2026-09-25")

    for day in ("2026-09-17", "2026-09-25", "2026-10-25"):
        assert run(inst, day) == Counter(suppressed_by_follow_up=1), day


def test_a_booking_expired_without_a_scan_brings_the_patient_back_once(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    run(inst, "2026-09-01")
    follow_up_id = book(inst, "2026-09-01", action="scan_booked", date="2026-09-25")
    run(inst, "2026-10-25")

    assert run(inst, "2026-10-26") == Counter(booking_lapsed=1, escalated=1)
    assert run(inst, "2026-10-27") == Counter()
    [lapsed] = [e for e in inst.db.ledger.patient_events(PID) if e.kind == "booking_lapsed"]
    assert lapsed.event_key == f"{WINDOW}/2026-09-25"
    assert lapsed.window_open == date.fromisoformat(WINDOW)
    assert lapsed.payload["booked_for"] == "2026-09-25" and lapsed.payload["follow_up_id"] == follow_up_id
    assert lapsed.payload["explanation"].startswith("Booked scan not on record: jdoe booked a scan for 2026-09-25")


def test_a_new_booking_after_a_lapse_holds_the_reminders_back_again(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    run(inst, "2026-09-01")
    book(inst, "2026-09-01", action="scan_booked", date="2026-09-25")
    assert run(inst, "2026-10-26")["booking_lapsed"] == 1
    book(inst, "2026-10-26", action="scan_booked", date="2026-11-10")

    assert run(inst, "2026-12-10") == Counter()  # escalated already told; nothing new to hold back
    assert run(inst, "2026-12-11") == Counter(booking_lapsed=1)


def test_the_booked_scan_arriving_closes_the_window_and_nothing_lapses(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    run(inst, "2026-09-01")
    book(inst, "2026-09-01", action="scan_booked", date="2026-09-25")
    load(inst, tmp_path, {**HIGH, "imaging": [scan("2025-11-20"), scan("2026-09-25")]}, name="later.jsonl")

    assert run(inst, "2026-09-28") == Counter(closed=1)
    assert run(inst, "2026-10-26") == Counter()
    assert run(inst, "2026-12-01") == Counter()


def test_a_withdrawn_booking_no_longer_holds_anything_back(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    run(inst, "2026-09-01")
    follow_up_id = book(inst, "2026-09-01", action="scan_booked", date="2026-09-25")
    assert run(inst, "2026-09-17") == Counter(suppressed_by_follow_up=1)
    withdraw_follow_up(inst, patient_id=PID, follow_up_id=follow_up_id, user="jdoe")

    assert run(inst, "2026-09-18") == Counter(escalated=1)


def test_a_deferral_holds_back_every_reminder_until_its_date(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    book(inst, "2026-04-01", action="deferred", until="2026-07-01", reason="patient abroad until June")

    assert run(inst, "2026-05-01") == Counter(suppressed_by_follow_up=2)  # due_soon and high_risk
    assert run(inst, "2026-06-20") == Counter(suppressed_by_follow_up=2)  # overdue and high_risk
    assert run(inst, "2026-06-30") == Counter(suppressed_by_follow_up=2)
    assert run(inst, "2026-07-01") == Counter(overdue=1, high_risk=1)


def test_contacted_and_a_note_change_no_reminder(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    run(inst, "2026-09-01")
    book(inst, "2026-09-01", action="contacted", note="left a voicemail")
    book(inst, "2026-09-01", action="note", note="prefers mornings")

    assert run(inst, "2026-09-17") == Counter(escalated=1)


def test_a_scan_done_elsewhere_is_counted_by_the_engine_and_kept_by_later_imports(
        inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    run(inst, "2026-09-01")
    book(inst, "2026-09-01", action="done_elsewhere", date="2026-08-15", modality="MRI")

    load(inst, tmp_path, HIGH, name="nightly.jsonl")  # the EHR export knows nothing of that scan

    stored = inst.db.patients.find_record(PID)
    assert stored is not None
    assert stored.imaging == (Scan(date(2025, 11, 20), "CT"), Scan(date(2026, 8, 15), "MRI"))
    evaluation = evaluate_stored(stored, date(2026, 9, 17), inst.book)
    assert evaluation.last_scan == date(2026, 8, 15) and evaluation.status == "not_due"
    assert run(inst, "2026-09-17") == Counter(closed=1)


def test_withdrawing_a_scan_done_elsewhere_takes_its_entry_off_and_the_reminders_come_back(
        inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    run(inst, "2026-09-01")
    follow_up_id = book(inst, "2026-09-01", action="done_elsewhere", date="2026-08-15", modality="MRI")
    assert run(inst, "2026-09-17") == Counter(closed=1)

    withdrawal = withdraw_follow_up(inst, patient_id=PID, follow_up_id=follow_up_id, user="jdoe")

    after = inst.db.patients.find_record(PID)
    assert after is not None and after.imaging == (Scan(date(2025, 11, 20), "CT"),)  # entered in error: gone
    assert withdrawal.note is not None and "taken off" in withdrawal.note
    assert evaluate_stored(after, date(2026, 9, 18), inst.book).status == "overdue"


def test_withdrawing_a_scan_done_elsewhere_keeps_an_imported_scan_of_the_same_day(
        inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    follow_up_id = book(inst, "2026-09-01", action="done_elsewhere", date="2025-11-20", modality="CT")

    withdrawal = withdraw_follow_up(inst, patient_id=PID, follow_up_id=follow_up_id, user="jdoe")

    after = inst.db.patients.find_record(PID)
    assert after is not None and after.imaging == (Scan(date(2025, 11, 20), "CT"),)  # the import's entry stays
    assert withdrawal.note is not None and "stays" in withdrawal.note


def test_withdrawing_is_a_new_row_and_the_action_stays(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)
    booked = book(inst, "2026-09-01", action="scan_booked", date="2026-09-25")

    withdrawal = withdraw_follow_up(inst, patient_id=PID, follow_up_id=booked, user="asmith")

    history = follow_ups_for(inst, PID)
    assert [(f.id, f.action, f.withdraws) for f in history] == [(withdrawal.id, "withdrawn", booked),
                                                                (booked, "scan_booked", None)]
    assert history[1].describe() == "booked for 2026-09-25 by jdoe"
    assert history[0].recorded_by == "asmith"
    with pytest.raises(FollowUpError, match="withdrawn already") as raised:
        withdraw_follow_up(inst, patient_id=PID, follow_up_id=booked, user="asmith")
    assert raised.value.field == "follow_up_id"
    with pytest.raises(FollowUpError, match="cannot be withdrawn"):
        withdraw_follow_up(inst, patient_id=PID, follow_up_id=withdrawal.id, user="asmith")
    with pytest.raises(FollowUpError, match="has no follow-up action with this id"):
        withdraw_follow_up(inst, patient_id="MRN0000002", follow_up_id=booked, user="asmith")


def test_the_follow_up_adapter_has_no_update_or_delete() -> None:
    source = inspect.getsource(followups_adapter)
    names = set(vars(followups_adapter))
    assert not names & {"update", "delete", "Update", "Delete"}
    for word in (".update(", ".delete(", "update(", "delete(", "UPDATE", "DELETE"):
        assert word not in source, word
    methods = {name for cls in (followups_adapter.FollowUpWriter, followups_adapter.FollowUpStore)
               for name in vars(cls) if not name.startswith("__")}
    assert not {m for m in methods if m.split("_")[0] in ("update", "delete", "remove", "set", "change")}


def test_an_unknown_patient_is_named_and_nothing_is_written(inst: Installation) -> None:
    with pytest.raises(FollowUpError, match=r"^patient_id: no patient with this id is stored$"):
        record_follow_up(inst, patient_id="MRN9999999", request={"action": "contacted"}, user="jdoe",
                         as_of=date(2026, 9, 1))
    assert follow_ups_for(inst, "MRN9999999") == []
    assert list(inst.db.follow_ups.audit_since(datetime(2000, 1, 1, tzinfo=UTC))) == []


def test_each_row_shows_its_current_action_read_in_one_batch(inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH, record(patient_id="MRN0000002"), record(patient_id="MRN0000003"))
    book(inst, "2026-09-01", action="scan_booked", date="2026-09-25")
    record_follow_up(inst, patient_id="MRN0000003", request={"action": "contacted"}, user="asmith",
                     as_of=date(2026, 9, 1))

    shown = current_follow_ups(inst, [PID, "MRN0000002", "MRN0000003"], date(2026, 9, 2))
    assert {pid: f.describe().split(" on ")[0] for pid, f in shown.items()} == {
        PID: "booked for 2026-09-25 by jdoe", "MRN0000003": "contacted"}
    assert PID not in current_follow_ups(inst, [PID], date(2026, 10, 26))  # past the booked date + grace


def test_a_batch_reads_exactly_its_patients_actions_whatever_the_collation(database_url: str) -> None:
    upgrade(database_url)
    db = Database.open(database_url)
    try:
        ids = ["MRN_2", "mrn-1", "Mrn3", "MRN-0", "z9"]
        with db.transaction() as tx:
            for pid in ids:
                tx.follow_ups.add_follow_up(patient_id=pid, care_team="east", action="contacted", recorded_by="jdoe")
        wanted = ["mrn-1", "MRN_2", "MRN-0"]  # code-point order: MRN-0 < MRN_2 < mrn-1; ICU en-US differs
        found = db.follow_ups.follow_ups_of(wanted)
        assert sorted(found) == sorted(wanted)
        assert all(len(actions) == 1 and actions[0].patient_id == pid for pid, actions in found.items())
        assert db.follow_ups.follow_ups_of([]) == {}
    finally:
        db.dispose()


def test_remind_counts_what_the_actions_held_back_and_the_digest_leaves_them_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    with Installation.from_settings(Settings.from_env()) as installation:  # MRN0000004 (endo-north): due
        record_follow_up(installation, patient_id="MRN0000004", user="jdoe", as_of=date(2026, 12, 1),
                         request={"action": "scan_booked", "date": "2026-12-15"})
    capsys.readouterr()

    assert cohort.netflow("remind", "--as-of", "2026-12-01") == 0

    out = capsys.readouterr().out
    assert "1 suppressed_by_follow_up" in out and "MRN" not in out
    north = [m.message for m in smtp_server.messages if "Endocrine Surgery North" in str(m.message["Subject"])]
    [digest] = north  # still sent: a patient needing review and one with no imaging planned
    text = digest.get_body(("plain",))
    assert text is not None
    assert "MRN0000005" in text.get_content() and "MRN0000004" not in text.get_content()


def test_a_scan_done_elsewhere_before_the_resection_is_refused_without_the_date(
        inst: Installation, tmp_path: Path) -> None:
    load(inst, tmp_path, HIGH)  # resected 2022-03-15
    with pytest.raises(FollowUpError) as raised:
        book(inst, "2026-09-01", action="done_elsewhere", date="2022-03-15", modality="CT")
    assert raised.value.field == "date" and "2022" not in str(raised.value)
    assert follow_ups_for(inst, PID) == []
