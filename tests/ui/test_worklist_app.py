"""The worklist app behind the Airflow login, on a real patient database (FastAPI's TestClient).

The cohort of tests/support/cohort.py, reminded on 2026-12-01 (events, digests and a run recorded,
the mail sent to a FakeMailer), then MRN0000002 scanned on 2026-12-02 and reminded on 2026-12-03
(its overdue window closed), then a gastric NET with the fields of rules v2 imported (MRN0000008).
The teams file gives gi-onc-east and hpb-west the member `nurse.navigator`, endo-north `north.nurse`.
The app is mounted at /netflow as the plugin mounts it. A signed-in user is Airflow's `get_user`
dependency overridden with a simple auth manager user; an anonymous request goes through Airflow's
real `requires_authenticated()`. Follow-up actions, access, CSRF and the audit trail:
tests/ui/test_worklist_actions.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from netflow.adapters.mail import FakeMailer
from netflow.config import Settings
from netflow.installation import Installation
from netflow.services.daily import remind
from netflow_airflow.worklist import LazyApp
from netflow_airflow.worklist.models import Overview, PatientDetail, QuarantineList, TeamWorklist, Worklist
from netflow_airflow.worklist.webapp import create_app, today_in
from tests.support.cohort import HOSTILE_NAME, TEAMS_YAML, make_cohort
from tests.support.records import record, scan

AS_OF = "2026-12-01"
RUN_ID = "scheduled__2026-12-01T06:00:00+00:00"
MRN = re.compile(r"MRN\d{7}")
MEMBERS = {"gi-onc-east": ["nurse.navigator"], "hpb-west": ["nurse.navigator"], "endo-north": ["north.nurse"]}

# Rules v2: a gastric type 1 NET locally excised, followed by gastroscopy (NCCN NET-5). Imported after the
# reminders, so it has no events and changes no digest.
GASTRIC = record(patient_id="MRN0000008", name="Dorothy Hodgkin", care_team="hpb-west", guideline="nccn",
                 primary_site="stomach", gastric_type=1, grade=1, ki67_percent=1.0, tumor_size_mm=8,
                 nodes_positive=None, nodes_examined=0, resection_type="local_excision", lymphovascular_invasion=False,
                 resection_date="2024-06-01", imaging=[scan("2025-06-01", "endoscopy"), scan("2025-09-01", "CT")])


def user(name: str, role: str = "USER") -> Any:
    """The user Airflow's simple auth manager gives for a valid session."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return SimpleAuthManagerUser(username=name, role=role)


def Nurse() -> Any:
    """The navigator of GI Oncology East and HPB Surgery West."""
    return user("nurse.navigator")


def Admin() -> Any:
    return user("admin", "ADMIN")


def teams_with_members() -> str:
    """tests/support/cohort.py's teams file with each team's `members`."""
    lines = []
    for line in TEAMS_YAML.splitlines():
        lines.append(line)
        if line and not line.startswith(" ") and line.endswith(":") and line[:-1] in MEMBERS:
            lines.append(f"  members: [{', '.join(MEMBERS[line[:-1]])}]")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("worklist")
    with pytest.MonkeyPatch.context() as monkeypatch:
        cohort = make_cohort(f"sqlite:///{tmp / 'netflow.db'}", tmp, monkeypatch, "smtp://127.0.0.1:1")
        (tmp / "members.yaml").write_text(teams_with_members(), encoding="utf-8")
        assert cohort.netflow("teams", "load", str(tmp / "members.yaml")) == 0
        broken = tmp / "broken.jsonl"
        broken.write_text(json.dumps(record(patient_id="MRN0000099", ki67_percent=140)) + "\n", encoding="utf-8")
        assert cohort.netflow("import", str(broken)) == 0
        settings = Settings.from_env()
        with Installation.from_settings(settings, mailer=FakeMailer) as inst:
            remind(inst, date(2026, 12, 1), RUN_ID)
        cohort.import_records([record(patient_id="MRN0000002", name="Ada Lovelace", ki67_percent=None,
                                      imaging=[scan("2026-03-01"), scan("2026-12-02", "MRI")])])
        with Installation.from_settings(settings, mailer=FakeMailer) as inst:
            remind(inst, date(2026, 12, 3), "cli-20261203T060000Z")
        cohort.import_records([GASTRIC], "gastric.jsonl")
        yield settings


def mounted(settings: Settings, who: Any | None) -> TestClient:
    """The app at /netflow in a parent app, as Airflow mounts it; `who` None: nobody signed in."""
    from airflow.api_fastapi.core_api.security import get_user

    app = create_app(lambda: settings)
    if who is not None:
        app.dependency_overrides[get_user] = lambda: who
    root = FastAPI()
    root.mount("/netflow", app)
    return TestClient(root)


def ref_of(settings: Settings, patient_id: str) -> str:
    with Installation.from_settings(settings) as inst:
        return inst.db.patients.refs([patient_id])[patient_id]


@pytest.fixture(scope="module")
def client(config: Settings) -> TestClient:
    return mounted(config, Nurse())


@pytest.fixture(scope="module")
def admin(config: Settings) -> TestClient:
    return mounted(config, Admin())


@pytest.fixture(scope="module")
def anonymous(config: Settings) -> TestClient:
    return mounted(config, None)


@pytest.fixture(scope="module")
def refs(config: Settings) -> dict[str, str]:
    with Installation.from_settings(config) as inst:
        return inst.db.patients.refs([f"MRN000000{i}" for i in range(1, 9)])


def section_ids(page: dict[str, Any]) -> dict[str, list[str]]:
    return {s["key"]: [row["patient_id"] for row in s["rows"]] for s in page["sections"]}


def row_ids(page: dict[str, Any]) -> list[str]:
    return [row["patient_id"] for row in page["rows"]]


# Authentication ---------------------------------------------------------------------------------

def paths(refs: dict[str, str]) -> list[str]:
    ref = refs["MRN0000001"]
    return ["/netflow/", f"/netflow/patients/{ref}", "/netflow/overview", "/netflow/quarantine", "/netflow/audit",
            "/netflow/icon.svg", "/netflow/openapi.json", "/netflow/api/worklist",
            "/netflow/api/teams/gi-onc-east/worklist", "/netflow/api/teams/gi-onc-east/worklist.csv",
            f"/netflow/api/patients/{ref}", "/netflow/api/overview", "/netflow/api/quarantine",
            "/netflow/api/audit"]


def test_a_request_without_an_airflow_session_gets_401_and_no_patient_data(anonymous: TestClient,
                                                                           refs: dict[str, str]) -> None:
    ref = refs["MRN0000001"]
    for path in paths(refs):
        response = anonymous.get(path, params={"as_of": AS_OF, "team": "gi-onc-east", "since": AS_OF})
        assert response.status_code == 401, path
        assert not MRN.search(response.text) and "Lovelace" not in response.text
    for path in (f"/netflow/api/patients/{ref}/follow-ups", f"/netflow/patients/{ref}/follow-ups",
                 f"/netflow/api/patients/{ref}/follow-ups/1/withdraw"):
        assert anonymous.post(path, json={"action": "note", "note": "x"}).status_code == 401, path


def test_a_browser_without_a_session_is_asked_to_sign_in_to_airflow(anonymous: TestClient,
                                                                    refs: dict[str, str]) -> None:
    response = anonymous.get(f"/netflow/patients/{refs['MRN0000001']}", headers={"Accept": "text/html"})

    assert response.status_code == 401
    assert "Sign in to Airflow" in response.text
    assert not MRN.search(response.text)


def test_the_app_has_exactly_the_documented_routes_and_posts_only_follow_ups(config: Settings) -> None:
    routes = {(method, route.path) for route in create_app(lambda: config).routes  # type: ignore[attr-defined]
              for method in route.methods}  # type: ignore[attr-defined]

    assert {path for method, path in routes if method == "POST"} == {
        "/api/patients/{ref}/follow-ups", "/api/patients/{ref}/follow-ups/{follow_up_id}/withdraw",
        "/patients/{ref}/follow-ups", "/patients/{ref}/follow-ups/{follow_up_id}/withdraw"}
    assert {path for method, path in routes if method == "GET"} == {
        "/", "/patients/{ref}", "/overview", "/quarantine", "/audit", "/icon.svg", "/openapi.json",
        "/api/worklist", "/api/teams/{team}/worklist", "/api/teams/{team}/worklist.csv", "/api/patients/{ref}",
        "/api/overview", "/api/quarantine", "/api/audit"}
    assert {method for method, _ in routes} == {"GET", "POST"}


def test_no_mrn_reaches_airflows_access_log(config: Settings, refs: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.api_fastapi.common import http_access_log
    from airflow.api_fastapi.core_api.security import get_user

    logged: list[dict[str, Any]] = []
    monkeypatch.setattr(http_access_log.logger, "info", lambda event, **fields: logged.append(fields))

    def build() -> Any:
        app = create_app(lambda: config)
        app.dependency_overrides[get_user] = Nurse
        return app

    root = FastAPI()
    root.add_middleware(http_access_log.HttpAccessLogMiddleware)
    root.mount("/netflow", LazyApp(build))
    client = TestClient(root)
    assert client.get(f"/netflow/patients/{refs['MRN0000001']}", params={"as_of": AS_OF}).status_code == 200
    assert client.get("/netflow/", params={"q": "MRN00000", "team": "gi-onc-east"}).status_code == 200

    assert [(entry["path"], entry["query"]) for entry in logged] == [
        ("/netflow/patients/***", "as_of=2026-12-01"), ("/netflow/", "q=%2A%2A%2A&team=gi-onc-east")]
    assert not MRN.search(json.dumps(logged))


def test_patient_links_carry_the_reference_never_the_mrn(client: TestClient, refs: dict[str, str]) -> None:
    body = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF}).text

    assert f'href="/netflow/patients/{refs["MRN0000001"]}?as_of=2026-12-01"' in body
    assert not re.search(r"href=\"[^\"]*MRN\d{7}", body)
    assert refs["MRN0000001"] not in "MRN0000001" and len(refs["MRN0000001"]) >= 16


# The whole worklist -----------------------------------------------------------------------------

def test_the_team_worklist_api_lists_every_patient_of_the_team_with_counts(client: TestClient) -> None:
    page = client.get("/netflow/api/teams/gi-onc-east/worklist", params={"as_of": AS_OF}).json()

    TeamWorklist.model_validate(page)
    assert (page["total"], row_ids(page)) == (3, ["MRN0000001", "MRN0000002", "MRN0000003"])  # urgency order
    assert [row["status"] for row in page["rows"]] == ["escalated", "overdue", "not_due"]
    assert all(row["ref"] and row["follow_up"] is None for row in page["rows"])
    assert {k: v for k, v in page["counts"].items() if v} == {"escalated": 1, "overdue": 1, "not_due": 1,
                                                               "high_risk": 2, "under_surveillance": 3}


@pytest.mark.parametrize(("params", "expected"), [
    pytest.param({"status": "overdue"}, ["MRN0000002"], id="status"),
    pytest.param({"status": "escalated"}, ["MRN0000001"], id="escalated"),
    pytest.param({"risk": "high"}, ["MRN0000001", "MRN0000002"], id="high risk (the digest's link)"),
    pytest.param({"status": "overdue", "overdue_min_days": "100"}, ["MRN0000001"],
                 id="overdue at least N days, escalated included (the digest's year-overdue link)"),
    pytest.param({"overdue_min_days": "365"}, [], id="nobody overdue a year"),
    pytest.param({"q": "0000003"}, ["MRN0000003"], id="MRN search"),
    pytest.param({"follow_up": "none"}, ["MRN0000001", "MRN0000002", "MRN0000003"], id="no follow-up"),
    pytest.param({"sort": "mrn", "order": "desc"}, ["MRN0000003", "MRN0000002", "MRN0000001"], id="sort"),
    pytest.param({"sort": "days_overdue", "order": "desc"}, ["MRN0000001", "MRN0000002", "MRN0000003"],
                 id="most overdue first"),
    pytest.param({"page_size": "2", "page": "2"}, ["MRN0000003"], id="second page"),
    pytest.param({"status": "bogus", "sort": "bogus", "page": "x"}, ["MRN0000001", "MRN0000002", "MRN0000003"],
                 id="unknown values ignored"),
])
def test_filters_sort_orders_and_pages_narrow_and_order_the_rows(client: TestClient, params: dict[str, str],
                                                                 expected: list[str]) -> None:
    page = client.get("/netflow/api/teams/gi-onc-east/worklist", params={"as_of": AS_OF, **params}).json()

    assert row_ids(page) == expected
    assert page["counts"]["high_risk"] == 2  # counts ignore the filters


def test_the_digests_links_open_the_filtered_worklist(client: TestClient) -> None:
    for query, shown in [("status=escalated", "MRN0000001"), ("status=overdue", "MRN0000002"),
                         ("risk=high", "MRN0000002"), ("status=overdue&overdue_min_days=100", "MRN0000001")]:
        body = client.get(f"/netflow/?team=gi-onc-east&as_of={AS_OF}&{query}").text
        table = body[body.index('id="worklist"'):]
        assert shown in table, query
        assert "MRN0000003" not in table, query


def test_every_filter_a_digest_section_links_to_is_understood_by_the_worklist(client: TestClient) -> None:
    from urllib.parse import parse_qsl

    from netflow.domain.digest_sections import SECTION_FILTERS

    for section, query in SECTION_FILTERS.items():
        params = dict(parse_qsl(query))
        page = client.get("/netflow/api/teams/gi-onc-east/worklist", params={"as_of": AS_OF, **params}).json()
        understood = {k: str(v) for k, v in page["filters"].items() if k in params and v is not None}
        assert understood == params, section


def test_the_worklist_page_shows_the_counts_the_rows_and_the_explanations(client: TestClient) -> None:
    body = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF}).text

    assert '<option value="gi-onc-east" selected>GI Oncology East</option>' in body
    assert '<span class="count" style="color:#b42318;">1</span><span class="words">Escalated' in body
    assert '<span class="count" style="color:#5925dc;">2</span><span class="words">High risk' in body
    assert "now 165 days overdue, past the 30-day grace period." in body
    assert "3 patients<span class=\"muted\">, 1–3 shown</span>" in body
    assert all(mrn in body for mrn in ("MRN0000001", "MRN0000002", "MRN0000003"))  # the whole worklist
    assert "<caption" in body and '<th scope="row">' in body and '<label for="team">Care team</label>' in body


def test_the_worklist_is_paged_on_the_server(client: TestClient) -> None:
    body = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF, "page_size": "2"}).text

    assert "Page 1 of 2" in body and 'rel="next"' in body
    assert "MRN0000003" not in body[body.index('id="worklist"'):]


def test_the_column_headers_link_to_the_sorted_worklist(client: TestClient) -> None:
    body = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF, "sort": "days_overdue",
                                           "order": "desc"}).text

    assert '<th scope="col" aria-sort="descending" class="num"><a href="/netflow/?team=gi-onc-east&amp;' \
           'as_of=2026-12-01&amp;sort=days_overdue&amp;order=asc#worklist">Days overdue' in body
    assert 'href="/netflow/?team=gi-onc-east&amp;as_of=2026-12-01&amp;sort=mrn&amp;order=asc#worklist"' in body


def test_the_sections_api_lists_every_patient_in_the_sections_of_the_digest(client: TestClient,
                                                                            config: Settings) -> None:
    east = client.get("/netflow/api/worklist", params={"team": "gi-onc-east", "as_of": AS_OF}).json()
    north = mounted(config, user("north.nurse")).get("/netflow/api/worklist",
                                                     params={"team": "endo-north", "as_of": AS_OF}).json()

    assert section_ids(east) == {"escalated": ["MRN0000001"], "overdue": ["MRN0000002"], "due": [],
                                 "due_soon": [], "high_risk": ["MRN0000001", "MRN0000002"], "needs_review": [],
                                 "not_indicated": []}
    assert section_ids(north) == {"escalated": [], "overdue": [], "due": ["MRN0000004"], "due_soon": [],
                                  "high_risk": [], "needs_review": ["MRN0000005"], "not_indicated": ["MRN0000006"]}
    assert east["under_surveillance"] == 3


def test_the_default_team_is_the_first_the_user_may_see_and_the_default_date_today(client: TestClient,
                                                                                   config: Settings) -> None:
    page = client.get("/netflow/api/worklist").json()

    assert page["team"] == {"key": "gi-onc-east", "name": "GI Oncology East"}
    assert [t["name"] for t in page["teams"]] == ["GI Oncology East", "HPB Surgery West"]
    assert page["as_of"] == today_in(config).isoformat()


def test_an_mrn_search_finds_patients_in_every_team_the_user_may_see_and_no_other(client: TestClient) -> None:
    body = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF, "q": "MRN000000"}).text

    matches = body[body.index('id="matches"'):body.index('id="worklist"')]
    assert {"MRN0000001", "MRN0000002", "MRN0000003", "MRN0000007", "MRN0000008"} == set(MRN.findall(matches))
    assert "MRN0000004" not in body  # endo-north: not hers


def test_names_are_initials_unless_the_phi_level_is_full(client: TestClient, config: Settings) -> None:
    minimal = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF}).text
    full = mounted(dataclasses.replace(config, phi_level="full"), Nurse()).get(
        "/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF}).text

    assert "A. L." in minimal and "Lovelace" not in minimal
    assert "Ada Lovelace" in full


def test_a_hostile_name_is_shown_as_text(config: Settings, refs: dict[str, str]) -> None:
    client = mounted(dataclasses.replace(config, phi_level="full"), Nurse())

    for path in ("/netflow/", f"/netflow/patients/{refs['MRN0000001']}"):
        body = client.get(path, params={"team": "gi-onc-east", "as_of": AS_OF}).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Brien &amp; Sons Ürsula" in body
        assert HOSTILE_NAME not in body and "<script" not in body


def test_an_unknown_team_is_404_for_an_admin_and_403_for_a_nurse_without_patient_data(
        client: TestClient, admin: TestClient) -> None:
    for who, status in ((admin, 404), (client, 403)):
        response = who.get("/netflow/", params={"team": "<b>nope</b>"}, headers={"Accept": "text/html"})
        assert response.status_code == status
        assert "<b>nope</b>" not in response.text and not MRN.search(response.text)


# One patient ------------------------------------------------------------------------------------

def test_the_patient_page_explains_the_evaluation_with_its_scans_and_reminders(client: TestClient,
                                                                                 refs: dict[str, str]) -> None:
    body = client.get(f"/netflow/patients/{refs['MRN0000001']}", params={"as_of": AS_OF}).text

    assert "<h1 id=\"h-patient\">MRN0000001</h1>" in body
    assert "Pancreatic NET, high risk (2 positive nodes): NCCN asks for imaging every 6 months" in body
    assert "<th scope=\"row\">2025-11-20</th><td>CT</td><td><strong>Yes</strong>, the latest scan" in body
    assert "Window opening 2026-05-20" in body and "current" in body
    assert "Escalated (overdue 90 days or more)</th>\n<td class=\"nowrap\">2026-12-01</td>" in body
    assert re.search(r"#\d+: sent \d{4}-\d\d-\d\d \d\d:\d\d", body)
    assert "No follow-up action in force." in body
    assert body.count('<form method="post"') == 5  # one form per action


def test_the_patient_page_shows_when_a_window_was_closed_by_a_scan(client: TestClient, refs: dict[str, str]) -> None:
    page = client.get(f"/netflow/api/patients/{refs['MRN0000002']}", params={"as_of": "2026-12-03"}).json()
    body = client.get(f"/netflow/patients/{refs['MRN0000002']}", params={"as_of": "2026-12-03"}).text

    closed = [w for w in page["windows"] if w["closed_on"]]
    assert [(w["closed_by_scan"], w["closed_on"], [e["kind"] for e in w["events"]]) for w in closed] == [
        ("2026-12-02", "2026-12-03", ["overdue"])]
    assert "met by the scan of 2026-12-02, seen 2026-12-03" in body
    assert "Ki-67 not recorded" in body  # the data issue


def test_the_patient_page_states_the_pathology_of_rules_v2_in_words(client: TestClient, refs: dict[str, str]) -> None:
    gastric = client.get(f"/netflow/api/patients/{refs['MRN0000008']}", params={"as_of": AS_OF}).json()
    pancreas = client.get(f"/netflow/api/patients/{refs['MRN0000001']}", params={"as_of": AS_OF}).json()

    facts = {f["label"]: f["value"] for f in gastric["facts"]}
    assert (facts["Gastric type"], facts["Resection"], facts["Lymphovascular invasion"], facts["Nodes"]) == (
        "type 1 (atrophic gastritis)", "local excision (no lymphadenectomy)", "no", "not assessed (no node examined)")
    others = {f["label"]: f["value"] for f in pancreas["facts"]}
    assert (others["Resection"], others["Lymphovascular invasion"]) == ("not recorded", "not reported")
    assert "Gastric type" not in others  # a gastric NET's only
    assert [(s["modality"], s["counts"]) for s in gastric["scans"]] == [("CT", False), ("endoscopy", True)]


def test_an_unknown_reference_is_404_and_an_mrn_is_no_reference(client: TestClient) -> None:
    for path in ("/netflow/patients/MRN0000001", "/netflow/api/patients/MRN0000001", "/netflow/patients/nope"):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 404, path
        assert "MRN0000001" not in response.text


# Overview, quarantine, JSON ---------------------------------------------------------------------

def test_the_overview_shows_the_metrics_of_the_users_teams_and_the_daily_runs(client: TestClient,
                                                                              admin: TestClient) -> None:
    page = client.get("/netflow/api/overview", params={"as_of": AS_OF}).json()
    every = admin.get("/netflow/api/overview", params={"as_of": AS_OF}).json()
    body = admin.get("/netflow/overview", params={"as_of": AS_OF}).text

    assert [t["team"]["key"] for t in page["teams"]] == ["gi-onc-east", "hpb-west"]
    assert len(every["teams"]) == 3
    east = next(t for t in page["teams"] if t["team"]["key"] == "gi-onc-east")
    assert (east["under_surveillance"], east["worklist"]["escalated"], east["worklist"]["overdue"]) == (3, 1, 1)
    assert [run["run_id"] for run in page["runs"]] == ["cli-20261203T060000Z", RUN_ID]
    assert page["runs"][1]["airflow_url"] == ("/dags/net_surveillance_daily/runs/"
                                              "scheduled__2026-12-01T06%3A00%3A00%2B00%3A00")
    assert body.count('<svg class="chart" role="img"') == 6  # two charts per team
    assert not MRN.search(body)  # counts only


def test_the_quarantine_page_is_for_admins_and_lists_rows_awaiting_a_fix(client: TestClient,
                                                                        admin: TestClient) -> None:
    body = admin.get("/netflow/quarantine").text
    refused = client.get("/netflow/quarantine", headers={"Accept": "text/html"})

    assert "1 row in quarantine" in body
    assert "<code>ki67_percent</code>: must be between 0 and 100, got 140" in body
    assert refused.status_code == 403 and "MRN0000099" not in refused.text
    assert client.get("/netflow/api/quarantine").status_code == 403


@pytest.mark.parametrize(("path", "model"), [
    ("/netflow/api/worklist", Worklist.model_validate),
    ("/netflow/api/teams/gi-onc-east/worklist", TeamWorklist.model_validate),
    ("/netflow/api/overview", Overview.model_validate),
    ("/netflow/api/quarantine", QuarantineList.model_validate),
])
def test_the_json_endpoints_return_their_documented_models(admin: TestClient, path: str,
                                                           model: Callable[[Any], Any]) -> None:
    response = admin.get(path, params={"as_of": AS_OF})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    model(response.json())


def test_the_patient_api_returns_its_documented_model(client: TestClient, refs: dict[str, str]) -> None:
    page = PatientDetail.model_validate(client.get(f"/netflow/api/patients/{refs['MRN0000001']}").json())

    assert (page.ref, page.follow_ups) == (refs["MRN0000001"], [])


def test_the_openapi_schema_documents_the_json_endpoints_only(client: TestClient) -> None:
    schema = client.get("/netflow/openapi.json").json()

    assert sorted(schema["paths"]) == [
        "/api/audit", "/api/overview", "/api/patients/{ref}", "/api/patients/{ref}/follow-ups",
        "/api/patients/{ref}/follow-ups/{follow_up_id}/withdraw", "/api/quarantine", "/api/teams/{team}/worklist",
        "/api/teams/{team}/worklist.csv", "/api/worklist"]
    ok = schema["paths"]["/api/teams/{team}/worklist"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/TeamWorklist"}
    assert {"Worklist", "TeamWorklist", "PatientDetail", "FollowUpModel", "AuditList"} <= set(
        schema["components"]["schemas"])
    assert "422" in schema["paths"]["/api/patients/{ref}/follow-ups"]["post"]["responses"]


def test_the_pages_run_no_script_are_not_cached_and_set_the_csrf_cookie(client: TestClient) -> None:
    client.cookies.clear()
    response = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF})

    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "<script" not in response.text and "http://" not in response.text and "https://" not in response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("netflow_csrf=") and "Path=/netflow/" in cookie and "SameSite=strict" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert f'name="csrf_token" value="{token}"' in response.text


def test_a_bad_as_of_date_is_a_422_that_says_how_to_write_it(client: TestClient) -> None:
    response = client.get("/netflow/api/teams/gi-onc-east/worklist", params={"as_of": "01/12/2026"})

    assert response.status_code == 422
    assert response.json() == {"detail": "as_of must be a date written YYYY-MM-DD"}


def test_the_plugin_mounts_the_lazy_app_even_after_the_web_app_module_was_imported() -> None:
    import importlib

    import netflow_airflow.worklist.webapp  # noqa: F401  (as a test session or the API server may)
    from netflow_airflow.worklist import LazyApp

    assert isinstance(importlib.import_module("netflow_airflow.worklist").app, LazyApp)
