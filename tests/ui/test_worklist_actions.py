"""Acting on the worklist: follow-up actions through the API and the pages, access per care team,
CSRF, the CSV export and the audit trail (FastAPI's TestClient on a real patient database).

The cohort of tests/support/cohort.py with members (tests/ui/test_worklist_app.py): `nurse.navigator`
sees gi-onc-east and hpb-west, `north.nurse` endo-north, `admin` (role ADMIN) every team, `stranger`
none. Each test gets its own database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from netflow.adapters.mail import FakeMailer
from netflow.config import Settings
from netflow.installation import Installation
from netflow.services.audit import audit_since
from netflow.services.daily import remind
from tests.support.cohort import make_cohort
from tests.ui.test_worklist_app import AS_OF, MRN, Admin, Nurse, mounted, teams_with_members, user

BOOKING = {"action": "scan_booked", "date": "2027-01-10", "as_of": AS_OF}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, "smtp://127.0.0.1:1")
    (tmp_path / "members.yaml").write_text(teams_with_members(), encoding="utf-8")
    assert cohort.netflow("teams", "load", str(tmp_path / "members.yaml")) == 0
    settings = Settings.from_env()
    with Installation.from_settings(settings, mailer=FakeMailer) as inst:
        remind(inst, date(2026, 12, 1), "cli-20261201T060000Z")
    yield settings


@pytest.fixture
def refs(config: Settings) -> dict[str, str]:
    with Installation.from_settings(config) as inst:
        return inst.db.patients.refs([f"MRN000000{i}" for i in range(1, 8)])


@pytest.fixture
def nurse(config: Settings) -> TestClient:
    return mounted(config, Nurse())


def bearer(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers={"Authorization": "Bearer token-checked-by-airflow"})


def audit_rows(config: Settings) -> list[tuple[str, str, str | None, str | None]]:
    with Installation.from_settings(config) as inst:
        return [(e.user, e.action, e.patient_id, e.team) for e in audit_since(inst, date(2000, 1, 1))]


# Follow-up actions ------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    pytest.param(BOOKING, id="scan_booked"),
    pytest.param({"action": "done_elsewhere", "date": "2026-11-20", "modality": "MRI", "as_of": AS_OF},
                 id="done_elsewhere"),
    pytest.param({"action": "deferred", "until": "2027-03-01", "reason": "patient abroad", "as_of": AS_OF},
                 id="deferred"),
    pytest.param({"action": "contacted", "note": "left a message", "as_of": AS_OF}, id="contacted"),
    pytest.param({"action": "note", "note": "prefers mornings", "as_of": AS_OF}, id="note"),
])
def test_every_action_is_stored_and_answered_with_its_user_and_time(nurse: TestClient, refs: dict[str, str],
                                                                     body: dict[str, str]) -> None:
    response = bearer(nurse, f"/netflow/api/patients/{refs['MRN0000001']}/follow-ups", body)

    assert response.status_code == 201, response.text
    stored = response.json()
    assert (stored["action"], stored["user"]) == (body["action"], "nurse.navigator")
    assert stored["recorded_at"] and "nurse.navigator" in stored["text"]
    listed = nurse.get(f"/netflow/api/patients/{refs['MRN0000001']}").json()["follow_ups"]
    assert [f["id"] for f in listed] == [stored["id"]]


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"action": "scan_booked"}, "date", id="booking without a date"),
    pytest.param({"action": "scan_booked", "date": "10/01/2027"}, "date", id="booking with a date mistyped"),
    pytest.param({"action": "done_elsewhere", "date": "2026-11-20"}, "modality", id="done elsewhere, no modality"),
    pytest.param({"action": "done_elsewhere", "date": "2026-11-20", "modality": "Xray"}, "modality",
                 id="done elsewhere, unknown modality"),
    pytest.param({"action": "done_elsewhere", "date": "2027-11-20", "modality": "CT"}, "date",
                 id="done elsewhere in the future"),
    pytest.param({"action": "deferred", "until": "2027-03-01"}, "reason", id="deferred without a reason"),
    pytest.param({"action": "deferred", "until": "2028-03-01", "reason": "abroad"}, "until",
                 id="deferred more than 12 months"),
    pytest.param({"action": "note"}, "note", id="note without text"),
    pytest.param({"action": "cancel"}, "action", id="unknown action"),
    pytest.param({"date": "2027-01-10"}, "action", id="no action"),
])
def test_a_missing_or_wrong_field_is_a_422_naming_it_and_nothing_is_stored(
        nurse: TestClient, refs: dict[str, str], config: Settings, body: dict[str, str], field: str) -> None:
    response = bearer(nurse, f"/netflow/api/patients/{refs['MRN0000001']}/follow-ups", {**body, "as_of": AS_OF})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    assert nurse.get(f"/netflow/api/patients/{refs['MRN0000001']}").json()["follow_ups"] == []
    assert not MRN.search(response.text)


def test_a_booked_scan_shows_on_the_worklist_row_and_the_patient_page(nurse: TestClient,
                                                                     refs: dict[str, str]) -> None:
    assert bearer(nurse, f"/netflow/api/patients/{refs['MRN0000001']}/follow-ups", BOOKING).status_code == 201

    page = nurse.get("/netflow/api/teams/gi-onc-east/worklist", params={"as_of": AS_OF}).json()
    body = nurse.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF}).text
    patient = nurse.get(f"/netflow/patients/{refs['MRN0000001']}", params={"as_of": AS_OF}).text
    booked = nurse.get("/netflow/api/teams/gi-onc-east/worklist",
                       params={"as_of": AS_OF, "follow_up": "scan_booked"}).json()

    row = next(r for r in page["rows"] if r["patient_id"] == "MRN0000001")
    assert row["follow_up"]["text"] == "booked for 2027-01-10 by nurse.navigator"
    assert row["status"] == "escalated"  # the engine's status stands: the counts equal the scan's
    assert "booked for 2027-01-10 by nurse.navigator" in body
    assert "In force: booked for 2027-01-10 by nurse.navigator" in patient
    assert [r["patient_id"] for r in booked["rows"]] == ["MRN0000001"]


def test_a_withdrawn_action_is_listed_as_withdrawn_and_leaves_the_row(nurse: TestClient, refs: dict[str, str]) -> None:
    base = f"/netflow/api/patients/{refs['MRN0000002']}/follow-ups"
    booked = bearer(nurse, base, BOOKING).json()

    withdrawn = bearer(nurse, f"{base}/{booked['id']}/withdraw", {})
    again = bearer(nurse, f"{base}/{booked['id']}/withdraw", {})

    assert withdrawn.status_code == 201 and withdrawn.json()["withdraws"] == booked["id"]
    assert again.status_code == 422 and again.json()["detail"][0]["loc"][-1] == "follow_up_id"
    listed = nurse.get(f"/netflow/api/patients/{refs['MRN0000002']}").json()
    assert [(f["action"], f["withdrawn"]) for f in listed["follow_ups"]] == [("withdrawn", False),
                                                                            ("scan_booked", True)]
    assert listed["follow_up"] is None


def test_the_patient_pages_form_records_an_action_and_shows_an_error_next_to_its_field(
        nurse: TestClient, refs: dict[str, str]) -> None:
    path = f"/netflow/patients/{refs['MRN0000001']}"
    token = nurse.get(path, params={"as_of": AS_OF}).cookies["netflow_csrf"]

    wrong = nurse.post(f"{path}/follow-ups", data={"csrf_token": token, "action": "deferred", "until": "2027-02-01",
                                                   "reason": "", "as_of": AS_OF})
    done = nurse.post(f"{path}/follow-ups", data={"csrf_token": token, "action": "deferred", "until": "2027-02-01",
                                                  "reason": "in hospital", "as_of": AS_OF}, follow_redirects=False)

    assert wrong.status_code == 422
    assert 'id="deferred-reason" name="reason" type="text" value="" maxlength="2000" required aria-invalid="true"' \
        in wrong.text
    assert '<span class="error" id="deferred-reason-error">' in wrong.text
    assert 'name="until" type="date" value="2027-02-01"' in wrong.text  # what she typed, kept
    assert done.status_code == 303 and done.headers["location"] == f"{path}?as_of={AS_OF}"
    assert "In force: deferred until 2027-02-01 (in hospital) by nurse.navigator" in nurse.get(
        path, params={"as_of": AS_OF}).text


def test_a_form_returns_only_to_a_page_of_the_app(nurse: TestClient, refs: dict[str, str]) -> None:
    path = f"/netflow/patients/{refs['MRN0000001']}"
    token = nurse.get(path).cookies["netflow_csrf"]
    form = {"csrf_token": token, "action": "contacted", "as_of": AS_OF}

    inside = nurse.post(f"{path}/follow-ups", data={**form, "back": "/netflow/?team=gi-onc-east"},
                        follow_redirects=False)
    outside = nurse.post(f"{path}/follow-ups", data={**form, "back": "https://evil.example/"},
                         follow_redirects=False)

    assert inside.headers["location"] == "/netflow/?team=gi-onc-east"
    assert outside.headers["location"] == f"{path}?as_of={AS_OF}"


# CSRF -------------------------------------------------------------------------------------------

def test_a_post_authenticated_by_the_cookie_needs_the_csrf_token(nurse: TestClient, refs: dict[str, str]) -> None:
    api = f"/netflow/api/patients/{refs['MRN0000003']}/follow-ups"
    page = f"/netflow/patients/{refs['MRN0000003']}/follow-ups"
    nurse.cookies.clear()
    nurse.cookies.set("_token", "the-airflow-session")
    token = nurse.get("/netflow/", params={"team": "gi-onc-east"}).cookies["netflow_csrf"]
    body = {"action": "note", "note": "called", "as_of": AS_OF}

    assert nurse.post(api, json=body).status_code == 403
    assert nurse.post(api, json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert nurse.post(page, data={**body, "csrf_token": "forged"}).status_code == 403
    assert nurse.post(api, json=body, headers={"X-CSRF-Token": token}).status_code == 201
    assert nurse.post(page, data={**body, "csrf_token": token}, follow_redirects=False).status_code == 303
    nurse.cookies.clear()
    assert bearer(nurse, api, body).status_code == 201  # a bearer token is its own proof
    assert len(nurse.get(f"/netflow/api/patients/{refs['MRN0000003']}").json()["follow_ups"]) == 3


# Access per care team ---------------------------------------------------------------------------

def test_another_teams_patient_worklist_and_export_are_403_and_show_nothing_of_them(
        config: Settings, refs: dict[str, str]) -> None:
    north = mounted(config, user("north.nurse"))
    ref = refs["MRN0000001"]  # gi-onc-east's
    attempts = [north.get(f"/netflow/patients/{ref}", headers={"Accept": "text/html"}),
                north.get(f"/netflow/api/patients/{ref}"),
                north.get("/netflow/", params={"team": "gi-onc-east"}, headers={"Accept": "text/html"}),
                north.get("/netflow/api/teams/gi-onc-east/worklist"),
                north.get("/netflow/api/worklist", params={"team": "gi-onc-east"}),
                north.get("/netflow/api/teams/gi-onc-east/worklist.csv"),
                bearer(north, f"/netflow/api/patients/{ref}/follow-ups", BOOKING),
                bearer(north, f"/netflow/api/patients/{ref}/follow-ups/1/withdraw", {})]

    assert [r.status_code for r in attempts] == [403] * len(attempts)
    for response in attempts:
        assert not MRN.search(response.text) and "GI Oncology East" not in response.text
    assert "does not list you as a member" in attempts[0].text
    teams = north.get("/netflow/api/teams/endo-north/worklist", params={"as_of": AS_OF}).json()
    assert [r["patient_id"] for r in teams["rows"]] == ["MRN0000004", "MRN0000005", "MRN0000006"]
    assert [a for a in audit_rows(config) if a[1] != "follow_up"] == []  # nothing shown, nothing viewed


def test_a_user_in_no_team_is_told_to_ask_for_membership(config: Settings) -> None:
    stranger = mounted(config, user("stranger"))

    page = stranger.get("/netflow/", headers={"Accept": "text/html"})

    assert page.status_code == 403 and "No care team lists you as a member" in page.text
    assert stranger.get("/netflow/api/overview").json()["teams"] == []


def test_an_admin_sees_every_team_and_its_patients(config: Settings, refs: dict[str, str]) -> None:
    admin = mounted(config, Admin())

    body = admin.get("/netflow/", params={"team": "endo-north", "as_of": AS_OF}).text

    assert [o for o in ("GI Oncology East", "Endocrine Surgery North", "HPB Surgery West") if o in body] == [
        "GI Oncology East", "Endocrine Surgery North", "HPB Surgery West"]
    assert admin.get(f"/netflow/api/patients/{refs['MRN0000007']}").status_code == 200
    assert "Audit trail" in body and "Data quality" in body
    assert "Audit trail" not in mounted(config, Nurse()).get("/netflow/", params={"as_of": AS_OF}).text


# Export and audit -------------------------------------------------------------------------------

def test_the_export_is_the_whole_filtered_view_as_csv(nurse: TestClient) -> None:
    response = nurse.get("/netflow/api/teams/gi-onc-east/worklist.csv", params={"as_of": AS_OF, "risk": "high"})

    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="worklist-gi-onc-east-2026-12-01.csv"' in response.headers["content-disposition"]
    assert [(r["mrn"], r["status"], r["team"]) for r in rows] == [("MRN0000001", "escalated", "gi-onc-east"),
                                                                  ("MRN0000002", "overdue", "gi-onc-east")]
    assert rows[0]["name"] == "O. S. Ü."  # initials, as on the page


def test_views_actions_and_exports_are_in_the_audit_trail(config: Settings, nurse: TestClient,
                                                          refs: dict[str, str]) -> None:
    ref = refs["MRN0000002"]
    nurse.get(f"/netflow/patients/{ref}")
    nurse.get(f"/netflow/api/patients/{ref}")
    booked = bearer(nurse, f"/netflow/api/patients/{ref}/follow-ups", BOOKING).json()
    bearer(nurse, f"/netflow/api/patients/{ref}/follow-ups/{booked['id']}/withdraw", {})
    nurse.get("/netflow/api/teams/gi-onc-east/worklist.csv", params={"q": "MRN0000002"})
    nurse.get("/netflow/", params={"team": "gi-onc-east"})  # the worklist itself is not a patient view
    admin = mounted(config, Admin())
    entries = admin.get("/netflow/api/audit", params={"since": "2026-01-01"}).json()["entries"]
    page = admin.get("/netflow/audit", params={"since": "2026-01-01"}).text

    assert [(e["user"], e["action"], e["patient_id"], e["team"]) for e in entries] == [
        ("nurse.navigator", "view_patient", "MRN0000002", "gi-onc-east"),
        ("nurse.navigator", "view_patient", "MRN0000002", "gi-onc-east"),
        ("nurse.navigator", "follow_up", "MRN0000002", "gi-onc-east"),
        ("nurse.navigator", "withdraw", "MRN0000002", "gi-onc-east"),
        ("nurse.navigator", "export", None, "gi-onc-east"),
        ("admin", "view_audit", None, None)]
    assert "q=***" in entries[4]["detail"] and "1 rows" in entries[4]["detail"]
    assert page.count("<td>view_patient</td>") == 2 and "<td>view_audit</td>" in page
    assert nurse.get("/netflow/api/audit", params={"since": "2026-01-01"}).status_code == 403
    assert admin.get("/netflow/api/audit", params={"since": "yesterday"}).status_code == 422
