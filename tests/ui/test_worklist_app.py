"""The worklist app behind the Airflow login, on a real patient database (FastAPI's TestClient).

The cohort of tests/support/cohort.py, reminded on 2026-12-01 (events, digests and a run recorded,
the mail sent to a FakeMailer), then MRN0000002 scanned on 2026-12-02 and reminded on 2026-12-03
(its overdue window closed), then a gastric NET with the fields of rules v2 imported (MRN0000008).
The app is mounted at /netflow as the plugin mounts it. An authorised user is Airflow's `get_user`
dependency overridden; an anonymous request goes through Airflow's real `requires_authenticated()`.
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
from netflow_airflow.worklist.models import Overview, PatientDetail, QuarantineList, Worklist
from netflow_airflow.worklist.webapp import create_app, today_in
from tests.support.cohort import HOSTILE_NAME, make_cohort
from tests.support.records import record, scan

AS_OF = "2026-12-01"
RUN_ID = "scheduled__2026-12-01T06:00:00+00:00"
MRN = re.compile(r"MRN\d{7}")
PAGES = ["/netflow/", "/netflow/patients/MRN0000001", "/netflow/overview", "/netflow/quarantine",
         "/netflow/icon.svg", "/netflow/openapi.json", "/netflow/api/worklist", "/netflow/api/patients/MRN0000001",
         "/netflow/api/overview", "/netflow/api/quarantine"]


# Rules v2: a gastric type 1 NET locally excised, followed by gastroscopy (NCCN NET-5). Imported after the
# reminders, so it has no events and changes no digest.
GASTRIC = record(patient_id="MRN0000008", name="Dorothy Hodgkin", care_team="hpb-west", guideline="nccn",
                 primary_site="stomach", gastric_type=1, grade=1, ki67_percent=1.0, tumor_size_mm=8,
                 nodes_positive=None, nodes_examined=0, resection_type="local_excision", lymphovascular_invasion=False,
                 resection_date="2024-06-01", imaging=[scan("2025-06-01", "endoscopy"), scan("2025-09-01", "CT")])


class Nurse:
    """The user Airflow's auth manager would return for a valid session."""

    def get_name(self) -> str:
        return "nurse.navigator"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("worklist")
    with pytest.MonkeyPatch.context() as monkeypatch:
        cohort = make_cohort(f"sqlite:///{tmp / 'netflow.db'}", tmp, monkeypatch, "smtp://127.0.0.1:1")
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


def mounted(settings: Settings, user: Any | None) -> TestClient:
    """The app at /netflow in a parent app, as Airflow mounts it; `user` None: nobody signed in."""
    from airflow.api_fastapi.core_api.security import get_user

    app = create_app(lambda: settings)
    if user is not None:
        app.dependency_overrides[get_user] = lambda: user
    root = FastAPI()
    root.mount("/netflow", app)
    return TestClient(root)


@pytest.fixture(scope="module")
def client(config: Settings) -> TestClient:
    return mounted(config, Nurse())


@pytest.fixture(scope="module")
def anonymous(config: Settings) -> TestClient:
    return mounted(config, None)


def section_ids(page: dict[str, Any]) -> dict[str, list[str]]:
    return {s["key"]: [row["patient_id"] for row in s["rows"]] for s in page["sections"]}


def html_section(body: str, key: str) -> str:
    """The HTML of one worklist section (from its <section id> to the next section)."""
    start = body.index(f'<section class="list" id="{key}"')
    end = body.find('<section class="list"', start + 1)
    return body[start:] if end < 0 else body[start:end]


# Authentication ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PAGES)
def test_a_request_without_an_airflow_session_gets_401_and_no_patient_data(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path, params={"as_of": AS_OF, "team": "gi-onc-east"})

    assert response.status_code == 401
    assert not MRN.search(response.text)
    assert "Lovelace" not in response.text


def test_a_browser_without_a_session_is_asked_to_sign_in_to_airflow(anonymous: TestClient) -> None:
    response = anonymous.get("/netflow/patients/MRN0000001", headers={"Accept": "text/html"})

    assert response.status_code == 401
    assert "Sign in to Airflow" in response.text
    assert not MRN.search(response.text)


def test_the_app_has_no_route_but_the_read_only_ones_checked_above(config: Settings) -> None:
    routes = create_app(lambda: config).routes

    assert {route.path for route in routes} == {  # type: ignore[attr-defined]
        p.removeprefix("/netflow").replace("MRN0000001", "{patient_id}") or "/" for p in PAGES}
    assert {method for route in routes for method in route.methods} == {"GET"}  # type: ignore[attr-defined]


def test_a_sensitive_request_leaves_no_mrn_in_airflows_access_log(config: Settings,
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
    assert client.get("/netflow/patients/MRN0000001", params={"as_of": AS_OF}).status_code == 200
    assert client.get("/netflow/", params={"q": "MRN00000", "team": "gi-onc-east"}).status_code == 200

    assert [(entry["path"], entry["query"]) for entry in logged] == [
        ("/netflow/patients/***", "as_of=2026-12-01"), ("/netflow/", "q=%2A%2A%2A&team=gi-onc-east")]


# The worklist -----------------------------------------------------------------------------------

def test_the_worklist_puts_each_patient_in_the_sections_of_the_digest(client: TestClient) -> None:
    east = client.get("/netflow/api/worklist", params={"team": "gi-onc-east", "as_of": AS_OF}).json()
    north = client.get("/netflow/api/worklist", params={"team": "endo-north", "as_of": AS_OF}).json()

    assert section_ids(east) == {"escalated": ["MRN0000001"], "overdue": ["MRN0000002"], "due": [],
                                 "due_soon": [], "high_risk": ["MRN0000001", "MRN0000002"], "needs_review": [],
                                 "not_indicated": []}
    assert section_ids(north) == {"escalated": [], "overdue": [], "due": ["MRN0000004"], "due_soon": [],
                                  "high_risk": [], "needs_review": ["MRN0000005"], "not_indicated": ["MRN0000006"]}
    assert east["under_surveillance"] == 3


def test_the_worklist_page_shows_the_counts_the_sections_and_the_explanations(client: TestClient) -> None:
    body = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF}).text

    assert '<option value="gi-onc-east" selected>GI Oncology East</option>' in body
    assert '<span class="count" style="color:#b42318;">1</span><span class="words">Escalated' in body
    assert '<span class="count" style="color:#5925dc;">2</span><span class="words">High-risk flags' in body
    assert "MRN0000001" in html_section(body, "escalated") and "MRN0000002" not in html_section(body, "escalated")
    assert "MRN0000002" in html_section(body, "overdue")
    assert "now 165 days overdue, past the 30-day grace period." in html_section(body, "escalated")
    assert "Nobody in this section today." in html_section(body, "due")
    assert "<caption" in body and '<th scope="row">' in body and '<label for="team">Care team</label>' in body
    assert "MRN0000003" not in body  # not due and not high risk: on no list


def test_the_team_is_switched_with_the_team_parameter(client: TestClient) -> None:
    body = client.get("/netflow/", params={"team": "endo-north", "as_of": AS_OF}).text

    assert "<h1>Endocrine Surgery North</h1>" in body
    assert "MRN0000004" in html_section(body, "due")
    assert "MRN0000005" in html_section(body, "needs_review")
    assert "MRN0000006" in html_section(body, "not_indicated")
    assert "MRN0000001" not in body


def test_the_default_team_is_the_first_by_name_and_the_default_date_today(client: TestClient,
                                                                           config: Settings) -> None:
    page = client.get("/netflow/api/worklist").json()

    assert page["team"] == {"key": "endo-north", "name": "Endocrine Surgery North"}
    assert [t["name"] for t in page["teams"]] == ["Endocrine Surgery North", "GI Oncology East", "HPB Surgery West"]
    assert page["as_of"] == today_in(config).isoformat()


@pytest.mark.parametrize(("params", "expected"), [
    pytest.param({"status": "overdue"}, {"overdue": ["MRN0000002"], "high_risk": ["MRN0000002"]}, id="status"),
    pytest.param({"status": "escalated"}, {"escalated": ["MRN0000001"], "high_risk": ["MRN0000001"]},
                 id="escalated"),
    pytest.param({"risk": "standard"}, {}, id="risk tier"),
    pytest.param({"q": "0000002"}, {"overdue": ["MRN0000002"], "high_risk": ["MRN0000002"]}, id="MRN search"),
    pytest.param({"sort": "mrn", "order": "desc"}, {"escalated": ["MRN0000001"], "overdue": ["MRN0000002"],
                                                    "high_risk": ["MRN0000002", "MRN0000001"]}, id="sort"),
    pytest.param({"status": "bogus", "sort": "bogus"}, {"escalated": ["MRN0000001"], "overdue": ["MRN0000002"],
                                                       "high_risk": ["MRN0000001", "MRN0000002"]}, id="unknown"),
])
def test_filters_and_sort_orders_narrow_and_order_the_sections(client: TestClient, params: dict[str, str],
                                                               expected: dict[str, list[str]]) -> None:
    page = client.get("/netflow/api/worklist", params={"team": "gi-onc-east", "as_of": AS_OF, **params}).json()

    assert {key: ids for key, ids in section_ids(page).items() if ids} == expected
    assert {s["key"]: s["count"] for s in page["sections"]}["high_risk"] == 2  # counts ignore the filters


def test_an_mrn_search_also_finds_patients_who_need_no_action(client: TestClient) -> None:
    body = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF, "q": "0000003"}).text

    assert "Other patients matching the MRN" in body
    assert "MRN0000003" in html_section(body, "matches")
    assert "Not due yet" in html_section(body, "matches")


def test_the_column_headers_link_to_the_sorted_worklist(client: TestClient) -> None:
    body = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF, "sort": "days_overdue",
                                           "order": "desc"}).text

    assert '<th scope="col" aria-sort="descending" class="num"><a href="/netflow/?team=gi-onc-east&amp;' \
           'as_of=2026-12-01&amp;sort=days_overdue&amp;order=asc#worklist">Days overdue' in body
    assert 'href="/netflow/?team=gi-onc-east&amp;as_of=2026-12-01&amp;sort=mrn&amp;order=asc#worklist"' in body


def test_names_are_initials_unless_the_phi_level_is_full(client: TestClient, config: Settings) -> None:
    minimal = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF}).text
    full = mounted(dataclasses.replace(config, phi_level="full"), Nurse()).get(
        "/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF}).text

    assert "A. L." in minimal and "Lovelace" not in minimal
    assert "Ada Lovelace" in full


def test_a_hostile_name_is_shown_as_text(config: Settings) -> None:
    client = mounted(dataclasses.replace(config, phi_level="full"), Nurse())

    for path in ("/netflow/", "/netflow/patients/MRN0000001"):
        body = client.get(path, params={"team": "gi-onc-east", "as_of": AS_OF}).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Brien &amp; Sons Ürsula" in body
        assert HOSTILE_NAME not in body and "<script" not in body


def test_an_unknown_team_is_404_without_patient_data(client: TestClient) -> None:
    response = client.get("/netflow/", params={"team": "<b>nope</b>"}, headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert "No care team with this key." in response.text
    assert "<b>nope</b>" not in response.text and not MRN.search(response.text)


# One patient ------------------------------------------------------------------------------------

def test_the_patient_page_explains_the_evaluation_with_its_scans_and_reminders(client: TestClient) -> None:
    body = client.get("/netflow/patients/MRN0000001", params={"as_of": AS_OF}).text

    assert "<h1 id=\"h-patient\">MRN0000001</h1>" in body
    assert "Pancreatic NET, high risk (2 positive nodes): NCCN asks for imaging every 6 months" in body
    assert "<th scope=\"row\">2025-11-20</th><td>CT</td><td><strong>Yes</strong>, the latest scan" in body
    assert "Window opening 2026-05-20" in body and "current" in body
    assert "Escalated (overdue 90 days or more)</th>\n<td class=\"nowrap\">2026-12-01</td>" in body
    assert re.search(r"#\d+: sent \d{4}-\d\d-\d\d \d\d:\d\d", body)
    assert "High-risk flags" in body  # the flag sent to the team


def test_the_patient_page_shows_when_a_window_was_closed_by_a_scan(client: TestClient) -> None:
    page = client.get("/netflow/api/patients/MRN0000002", params={"as_of": "2026-12-03"}).json()
    body = client.get("/netflow/patients/MRN0000002", params={"as_of": "2026-12-03"}).text

    closed = [w for w in page["windows"] if w["closed_on"]]
    assert [(w["closed_by_scan"], w["closed_on"], [e["kind"] for e in w["events"]]) for w in closed] == [
        ("2026-12-02", "2026-12-03", ["overdue"])]
    assert "met by the scan of 2026-12-02, seen 2026-12-03" in body
    assert "Ki-67 not recorded" in body  # the data issue


def test_the_patient_page_states_the_pathology_of_rules_v2_in_words(client: TestClient) -> None:
    gastric = client.get("/netflow/api/patients/MRN0000008", params={"as_of": AS_OF}).json()
    pancreas = client.get("/netflow/api/patients/MRN0000001", params={"as_of": AS_OF}).json()
    body = client.get("/netflow/patients/MRN0000008", params={"as_of": AS_OF}).text

    facts = {f["label"]: f["value"] for f in gastric["facts"]}
    assert (facts["Gastric type"], facts["Resection"], facts["Lymphovascular invasion"], facts["Nodes"]) == (
        "type 1 (atrophic gastritis)", "local excision (no lymphadenectomy)", "no", "not assessed (no node examined)")
    assert facts["Resection date"] == "2024-06-01"
    others = {f["label"]: f["value"] for f in pancreas["facts"]}
    assert (others["Resection"], others["Lymphovascular invasion"]) == ("not recorded", "not reported")
    assert "Gastric type" not in others  # a gastric NET's only
    assert "<dt>Lymphovascular invasion</dt><dd>no</dd>" in body


def test_the_scans_that_count_are_those_of_the_patients_rule(client: TestClient) -> None:
    gastric = client.get("/netflow/api/patients/MRN0000008", params={"as_of": AS_OF}).json()
    pancreas = client.get("/netflow/api/patients/MRN0000001", params={"as_of": AS_OF}).json()

    assert gastric["evaluation"]["rule_id"] == "nccn/stomach/type1"
    assert [(s["date"], s["modality"], s["counts"], s["latest"], s["note"]) for s in gastric["scans"]] == [
        ("2025-09-01", "CT", False, False, "not a modality that counts under this rule"),
        ("2025-06-01", "endoscopy", True, True, "the latest scan that counts: the window counts from it")]
    assert [(s["modality"], s["counts"]) for s in pancreas["scans"]] == [("CT", True)]  # under a CT/MRI rule


def test_an_unknown_patient_is_404_and_the_mrn_is_not_echoed(client: TestClient) -> None:
    for path in ("/netflow/patients/MRN7654321", "/netflow/api/patients/MRN7654321"):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 404
        assert "MRN7654321" not in response.text


# Overview and quarantine ------------------------------------------------------------------------

def test_the_overview_shows_each_teams_metrics_charts_and_the_daily_runs(client: TestClient) -> None:
    page = client.get("/netflow/api/overview", params={"as_of": AS_OF}).json()
    body = client.get("/netflow/overview", params={"as_of": AS_OF}).text

    east = next(t for t in page["teams"] if t["team"]["key"] == "gi-onc-east")
    assert (east["under_surveillance"], east["worklist"]["escalated"], east["worklist"]["overdue"]) == (3, 1, 1)
    assert [run["run_id"] for run in page["runs"]] == ["cli-20261203T060000Z", RUN_ID]
    assert page["runs"][1]["airflow_url"] == ("/dags/net_surveillance_daily/runs/"
                                              "scheduled__2026-12-01T06%3A00%3A00%2B00%3A00")
    assert page["runs"][0]["airflow_url"] is None  # a command-line run is not in Airflow
    assert body.count('<svg class="chart" role="img"') == 6  # two charts per team
    assert "<desc id=\"cd-2\">1 not due yet, 0 due in the next 30 days, 0 due now, 1 overdue, 1 escalated" in body
    assert f'<a href="/dags/net_surveillance_daily/runs/scheduled__2026-12-01T06%3A00%3A00%2B00%3A00">{RUN_ID}</a>' \
        in body
    assert not MRN.search(body)  # counts only


def test_the_quarantine_page_lists_rows_awaiting_a_fix(client: TestClient) -> None:
    body = client.get("/netflow/quarantine").text

    assert "1 row in quarantine" in body
    assert "<th scope=\"row\">MRN0000099</th>\n<td>broken.jsonl</td>\n<td class=\"num\">1</td>" in body
    assert "<code>ki67_percent</code>: must be between 0 and 100, got 140" in body


# JSON and OpenAPI -------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "model"), [
    ("/netflow/api/worklist", Worklist.model_validate),
    ("/netflow/api/patients/MRN0000001", PatientDetail.model_validate),
    ("/netflow/api/overview", Overview.model_validate),
    ("/netflow/api/quarantine", QuarantineList.model_validate),
])
def test_the_json_endpoints_return_their_documented_models(client: TestClient, path: str,
                                                           model: Callable[[Any], Any]) -> None:
    response = client.get(path, params={"as_of": AS_OF})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    model(response.json())


def test_the_openapi_schema_documents_the_json_endpoints_only(client: TestClient) -> None:
    schema = client.get("/netflow/openapi.json").json()

    assert sorted(schema["paths"]) == ["/api/overview", "/api/patients/{patient_id}", "/api/quarantine",
                                       "/api/worklist"]
    ok = schema["paths"]["/api/worklist"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Worklist"}
    assert {"Worklist", "PatientDetail", "Overview", "QuarantineList"} <= set(schema["components"]["schemas"])
    assert "404" in schema["paths"]["/api/patients/{patient_id}"]["get"]["responses"]


def test_the_pages_run_no_script_and_are_not_cached(client: TestClient) -> None:
    response = client.get("/netflow/", params={"team": "gi-onc-east", "as_of": AS_OF})

    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "<script" not in response.text and "http://" not in response.text and "https://" not in response.text


def test_a_bad_as_of_date_is_a_422_that_says_how_to_write_it(client: TestClient) -> None:
    response = client.get("/netflow/api/worklist", params={"as_of": "01/12/2026"})

    assert response.status_code == 422
    assert response.json() == {"detail": "as_of must be a date written YYYY-MM-DD"}



def test_the_plugin_mounts_the_lazy_app_even_after_the_web_app_module_was_imported() -> None:
    import importlib

    import netflow_airflow.worklist.webapp  # noqa: F401  (as a test session or the API server may)
    from netflow_airflow.worklist import LazyApp

    assert isinstance(importlib.import_module("netflow_airflow.worklist").app, LazyApp)
