"""The FHIR export DAG against the test Bulk Data server, with dag.test(): the export lands whole in the inbox,
updates the asset the import DAG runs on, and fails clearly (leaving nothing behind) when the server does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from netflow.adapters.database import Database
from netflow.adapters.fhir_exports import ExportState
from netflow.adapters.tables import patients, quarantine
from tests.support.bulk_server import BulkServer
from tests.support.cohort import Cohort, make_cohort

GROUP = "net-patients"


def keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


KEYS = keys()


def export_resources() -> dict[str, list[dict[str, Any]]]:
    patient = {"resourceType": "Patient", "id": "p1",
               "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                    "code": "MR"}]}, "value": "FHIR0001"}],
               "name": [{"family": "Test", "given": ["Pat"]}], "birthDate": "1960-05-01"}
    condition = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C7A.020"}]}}
    observations = [{"resourceType": "Observation", "id": f"o{i}", "subject": {"reference": "Patient/p1"}}
                    for i in range(2)]
    return {"Patient": [patient], "Condition": [condition], "Observation": observations}


@pytest.fixture
def server() -> Iterator[BulkServer]:
    with BulkServer.start(client_id="netflow", public_key=KEYS[1], key_id="k1",
                          resources=export_resources()) as running:
        yield running


@pytest.fixture
def ehr(airflow_db: Path, server: BulkServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        no_retries: None) -> Cohort:
    """The patient database, the inbox and the netflow_fhir connection to the test server."""
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, "smtp://127.0.0.1:1")
    monkeypatch.setenv("NETFLOW_INBOX", str(tmp_path / "inbox"))
    connection = {"conn_type": "http", "host": server.base_url, "login": "netflow", "password": KEYS[0],
                  "extra": {"token_url": server.token_url, "kid": "k1", "group_id": GROUP}}
    monkeypatch.setenv("AIRFLOW_CONN_NETFLOW_FHIR", json.dumps(connection))
    return cohort


def run_export(dagbag: Any) -> Any:
    return dagbag.dags["net_fhir_export"].test()


def state(cohort: Cohort) -> ExportState | None:
    db = Database.open(cohort.url)
    try:
        return db.fhir_exports.state(GROUP)
    finally:
        db.dispose()


def inbox_entries(cohort: Cohort) -> list[str]:
    inbox = cohort.dir / "inbox"
    return sorted(p.name for p in inbox.iterdir()) if inbox.is_dir() else []


def asset_events() -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        query = (select(func.count()).select_from(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                 .where(AssetModel.name == "netflow_fhir_export"))
        return int(session.scalar(query) or 0)


def demo_export(cohort: Cohort, patients: int) -> dict[str, list[dict[str, Any]]]:
    """The demo cohort as the EHR would export it (`netflow demo-data --format fhir`), its teams loaded with
    their FHIR CareTeam identifiers."""
    folder, teams = cohort.dir / "demo-export", cohort.dir / "demo-teams.yaml"
    assert cohort.netflow("demo-data", "--patients", str(patients), "--format", "fhir", "--malformed-rate", "0",
                          "--out", str(folder), "--teams-out", str(teams)) == 0
    assert cohort.netflow("teams", "load", str(teams)) == 0
    return {path.stem: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            for path in sorted(folder.glob("*.ndjson"))}


def test_an_export_lands_whole_in_the_inbox_and_the_import_dag_imports_the_folder(
        dagbag: Any, ehr: Cohort, server: BulkServer) -> None:
    from airflow.sdk import DagRunState

    server.resources = demo_export(ehr, 12)
    patients_before, events_before = ehr.count(patients), asset_events()

    dag_run = run_export(dagbag)

    assert dag_run.state == DagRunState.SUCCESS
    [folder] = inbox_entries(ehr)
    assert folder.startswith("fhir-export-net-patients-")
    files = sorted(p.name for p in (ehr.dir / "inbox" / folder).iterdir())
    assert files == ["CareTeam.001.ndjson", "Condition.002.ndjson", "ImagingStudy.003.ndjson",
                     "Observation.004.ndjson", "Observation.005.ndjson", "Patient.006.ndjson", "Procedure.007.ndjson"]
    landed_patients = (ehr.dir / "inbox" / folder / "Patient.006.ndjson").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in landed_patients] == server.resources["Patient"]
    assert server.kickoffs[0]["_type"] == \
        "Patient,Condition,Procedure,Observation,ImagingStudy,DiagnosticReport,CareTeam"
    assert "_since" not in server.kickoffs[0]  # the first export: everything
    counts = dag_run.get_task_instance("export").xcom_pull(task_ids="export")
    assert counts["resources"] == {kind: len(items) for kind, items in server.resources.items()}
    assert counts["folder"] == folder and counts["files"] == 7
    assert "http" not in json.dumps(counts)  # no URL in XCom
    assert asset_events() == events_before + 1
    assert server.deletes == ["/status/job1"]  # the server may delete the files now
    landed = state(ehr)
    assert landed is not None and landed.last_status == "landed" and landed.last_folder == folder
    assert landed.transaction_time == "2026-12-07T05:00:00.000Z"

    imported = dagbag.dags["net_patient_import"].test()

    assert imported.state == DagRunState.SUCCESS
    assert inbox_entries(ehr) == ["processed"]
    [moved] = (ehr.dir / "inbox" / "processed").iterdir()
    assert moved.name.endswith(folder) and (moved / "Patient.006.ndjson").is_file()
    assert ehr.count(patients) == patients_before + 12  # every patient of the export, none quarantined
    assert ehr.count(quarantine) == 0


def test_the_second_export_asks_only_for_what_changed_since_the_first(
        dagbag: Any, ehr: Cohort, server: BulkServer) -> None:
    from airflow.sdk import DagRunState

    assert run_export(dagbag).state == DagRunState.SUCCESS
    server.transaction_time = "2026-12-08T05:00:00.000Z"
    leftover = ehr.dir / "inbox" / ".fhir-export-net-patients.part"  # what a killed attempt left
    leftover.mkdir()
    (leftover / "Patient.001.ndjson").write_text('{"resourceType": "Pat', encoding="utf-8")
    assert run_export(dagbag).state == DagRunState.SUCCESS

    assert [k.get("_since") for k in server.kickoffs] == [None, "2026-12-07T05:00:00.000Z"]
    landed = state(ehr)
    assert landed is not None and landed.transaction_time == "2026-12-08T05:00:00.000Z"
    assert len([e for e in inbox_entries(ehr) if e.startswith("fhir-export-")]) == 2
    assert not leftover.exists()


def test_a_500_at_kick_off_fails_the_attempt_and_the_retry_succeeds(
        dagbag: Any, ehr: Cohort, server: BulkServer) -> None:
    from airflow.sdk import DagRunState

    task = dagbag.dags["net_fhir_export"].get_task("export")
    task.retries, task.retry_delay = 1, timedelta(seconds=0)
    server.kickoff_failures.append(500)

    dag_run = run_export(dagbag)

    assert dag_run.state == DagRunState.SUCCESS
    assert len(server.kickoffs) == 2
    assert dag_run.get_task_instance("export").try_number == 2
    assert [e for e in inbox_entries(ehr) if e.startswith("fhir-export-")]


def test_an_expired_export_fails_with_a_clear_message_and_imports_nothing(
        dagbag: Any, ehr: Cohort, server: BulkServer) -> None:
    from airflow.sdk import DagRunState

    server.status_failure = 410
    events_before = asset_events()

    dag_run = run_export(dagbag)

    assert dag_run.state == DagRunState.FAILED
    failed = state(ehr)
    assert failed is not None and failed.last_status == "failed" and failed.transaction_time is None
    assert failed.last_error == ("the export expired or was deleted at the EHR (status: HTTP 410; OperationOutcome: "
                                 "not-found); the next attempt starts a new export")
    assert inbox_entries(ehr) == [] and asset_events() == events_before


def test_a_bad_token_says_the_credentials_are_wrong(
        dagbag: Any, ehr: Cohort, server: BulkServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import DagRunState

    connection = {"conn_type": "http", "host": server.base_url, "login": "netflow", "password": keys()[0],
                  "extra": {"token_url": server.token_url, "kid": "k1", "group_id": GROUP}}
    monkeypatch.setenv("AIRFLOW_CONN_NETFLOW_FHIR", json.dumps(connection))

    assert run_export(dagbag).state == DagRunState.FAILED

    failed = state(ehr)
    assert failed is not None and failed.last_error is not None
    assert failed.last_error.startswith("the EHR refused netflow's credentials (token request: HTTP 401")
    assert server.kickoffs == [] and inbox_entries(ehr) == []


def test_nothing_half_downloaded_stays_in_the_inbox(dagbag: Any, ehr: Cohort, server: BulkServer) -> None:
    from airflow.sdk import DagRunState

    server.file_failures["Observation-2.ndjson"] = 500  # the last file: the others have arrived

    assert run_export(dagbag).state == DagRunState.FAILED

    assert server.downloads == ["Patient.ndjson", "Condition.ndjson", "Observation-1.ndjson"]
    assert inbox_entries(ehr) == []  # neither a folder nor the hidden staging folder
    failed = state(ehr)
    assert failed is not None and failed.last_error == \
        "the EHR refused the request (file 4 of 4, Observation: HTTP 500; OperationOutcome: exception)"


def test_the_import_dag_keeps_its_15_minutes_and_also_runs_when_an_export_landed(dagbag: Any) -> None:
    timetable = dagbag.dags["net_patient_import"].timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert timetable.timetable.expression == "*/15 * * * *"
    assert timetable.asset_condition.name == "netflow_fhir_export"
    graph = {t.task_id: sorted(t.downstream_task_ids) for t in dagbag.dags["net_patient_import"].tasks}
    assert graph == {"list_inbox": ["import_file"], "import_file": ["list_exports"],
                     "list_exports": ["import_export"], "import_export": []}


def test_the_export_dag_runs_daily_before_the_daily_run_and_updates_the_asset(dagbag: Any) -> None:
    dag = dagbag.dags["net_fhir_export"]
    assert dag.timetable.expression == "0 5 * * *"
    [task] = dag.tasks
    assert [outlet.name for outlet in task.outlets] == ["netflow_fhir_export"]
    assert task.retries >= 1


def test_a_connection_without_its_key_id_says_which_field_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Connection

    import netflow_airflow as glue
    from netflow.config import ConfigError, Settings

    conn = Connection(conn_id="netflow_fhir", conn_type="http", host="https://ehr.example/fhir", login="netflow",
                      password=KEYS[0], extra=json.dumps({"token_url": "https://ehr.example/token", "group_id": "g"}))
    monkeypatch.setattr(glue, "_connection", lambda conn_id: conn)

    with pytest.raises(ConfigError, match=r"^connection netflow_fhir has no extra kid$"):
        glue.fhir_source(Settings.from_env())
    monkeypatch.setattr(conn, "extra", json.dumps({"token_url": "https://ehr.example/token", "group_id": "g",
                                                   "kid": "k1", "max_wait_minutes": 30}))
    source = glue.fhir_source(Settings.from_env())
    assert (source.group_id, source.max_wait, source.server.scope) == ("g", 1800.0, "system/*.read")
    assert KEYS[0] not in repr(source)  # the private key never in a log line


def test_the_export_dag_starts_paused_until_the_ehr_connection_is_configured(dagbag: Any) -> None:
    assert dagbag.dags["net_fhir_export"].is_paused_upon_creation is True
