"""The audit trail: rows appended for actions, views and exports, and `netflow audit export` as CSV, on
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from netflow.adapters.db import upgrade
from netflow.cli import main
from netflow.config import Settings
from netflow.installation import Installation
from netflow.services.audit import audit, audit_since, export_csv
from netflow.services.followups import record_follow_up, withdraw_follow_up
from netflow.services.imports import import_files
from tests.support.records import record

PID = "MRN0000001"
TODAY = datetime.now(UTC).date()  # audit rows carry the real time they were written


@pytest.fixture
def inst(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installation]:
    upgrade(database_url)
    monkeypatch.setenv("NETFLOW_DATABASE_URL", database_url)
    with Installation.from_settings(Settings(database_url=database_url)) as installation:
        path = tmp_path / "patients.jsonl"
        path.write_text(json.dumps(record(patient_id=PID)) + "\n", encoding="utf-8")
        import_files(installation, [path])
        yield installation


def test_follow_up_actions_and_withdrawals_write_their_audit_rows(inst: Installation) -> None:
    booked = record_follow_up(inst, patient_id=PID, request={"action": "scan_booked", "date": "2027-01-10"},
                              user="jdoe", as_of=date(2026, 12, 7))
    withdraw_follow_up(inst, patient_id=PID, follow_up_id=booked.id, user="asmith")

    rows = [(e.user, e.action, e.patient_id, e.team, e.detail) for e in audit_since(inst, TODAY)]
    assert rows == [("jdoe", "follow_up", PID, "gi-onc-east", f"scan_booked {booked.id}"),
                    ("asmith", "withdraw", PID, "gi-onc-east", f"withdrew scan_booked {booked.id}")]


def test_a_refused_action_writes_no_audit_row(inst: Installation) -> None:
    with pytest.raises(ValueError, match="date: is required for scan_booked"):
        record_follow_up(inst, patient_id=PID, request={"action": "scan_booked"}, user="jdoe",
                         as_of=date(2026, 12, 7))
    assert list(audit_since(inst, TODAY)) == []


def test_views_and_exports_are_audited_with_utc_times(inst: Installation) -> None:
    before = datetime.now(UTC)
    audit(inst, user="jdoe", action="view_patient", patient_id=PID, team="gi-onc-east")
    audit(inst, user="jdoe", action="export", team="gi-onc-east", detail="worklist status=overdue")

    entries = list(audit_since(inst, TODAY))
    assert [(e.action, e.patient_id, e.detail) for e in entries] == [
        ("view_patient", PID, None), ("export", None, "worklist status=overdue")]
    for entry in entries:
        assert entry.at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=5) <= entry.at <= datetime.now(UTC) + timedelta(seconds=5)
    assert list(audit_since(inst, TODAY + timedelta(days=1))) == []


def test_an_unknown_audit_action_or_a_blank_user_is_refused(inst: Installation) -> None:
    with pytest.raises(ValueError, match="unknown audit action 'peek'"):
        audit(inst, user="jdoe", action="peek")
    with pytest.raises(ValueError, match="user name"):
        audit(inst, user="  ", action="view_patient")


def test_audit_export_writes_a_csv_for_the_compliance_officer(inst: Installation, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    audit(inst, user="jdoe", action="view_patient", patient_id=PID, team="gi-onc-east")
    audit(inst, user="jdoe", action="export", team="gi-onc-east", detail="=HYPERLINK(\"http://x\")")
    out = tmp_path / "audit.csv"

    assert main(["audit", "export", "--since", TODAY.isoformat(), "--out", str(out), "--by", "officer"]) == 0

    rows = list(csv.reader(out.open(encoding="utf-8", newline="")))
    assert rows[0] == ["at", "user", "action", "patient_id", "team", "detail"]
    assert [r[1:] for r in rows[1:]] == [
        ["jdoe", "view_patient", PID, "gi-onc-east", ""],
        ["jdoe", "export", "", "gi-onc-east", "'=HYPERLINK(\"http://x\")"],  # no formula in a spreadsheet
        ["officer", "export", "", "", f"audit log since {TODAY.isoformat()}"],  # the export audits itself
    ]
    for row in rows[1:]:
        at = datetime.fromisoformat(row[0])
        assert at.utcoffset() == timedelta(0) and row[0].endswith("+00:00")
    assert capsys.readouterr().err.strip() == f"exported 3 audit row(s) since {TODAY.isoformat()} to {out}"


def test_audit_export_streams_past_a_page_of_rows(inst: Installation) -> None:
    for n in range(7):
        audit(inst, user=f"user{n}", action="view_patient", patient_id=PID)
    pages = list(inst.db.follow_ups.audit_since(datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC), page=3))
    assert [e.user for e in pages] == [f"user{n}" for n in range(7)]
    out = io.StringIO()
    assert export_csv(inst, TODAY, out, user="officer") == 8
    assert out.getvalue().count("\n") == 9


def test_a_bad_since_date_is_a_usage_error(inst: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["audit", "export", "--since", "07/12/2026"])
    assert raised.value.code == 2
    assert "must be a date as YYYY-MM-DD" in capsys.readouterr().err
