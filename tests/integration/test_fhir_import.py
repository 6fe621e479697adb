"""`netflow import` of a FHIR Bulk Data export, as a person runs it: the same worklist as the JSON Lines form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from netflow.adapters.db import make_engine
from netflow.adapters.patients import PatientStore
from netflow.adapters.tables import imaging_studies
from netflow.cli import main
from netflow.config import Settings
from netflow.demo import build_cohort, teams_yaml, write_cohort
from netflow.imports.fhir import FhirExport, gather
from netflow.installation import Installation
from netflow.services.imports import import_inbox_file
from tests.support.fhir import TEAM_SYSTEM, complete, net_condition, patient, study, write_export

AS_OF = "2026-12-01"
TEAMS_YAML = f"""team-1:
  name: Team One
  navigators: [nav@hospital.example]
  attendings: [doc@hospital.example]
  leads: [lead@hospital.example]
  fhir: ["{TEAM_SYSTEM}|team-1"]
"""


def use(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETFLOW_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0


def scan(capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["scan", "--as-of", AS_OF]) == 0
    return capsys.readouterr().out.splitlines()


def test_the_jsonl_and_the_fhir_form_of_one_cohort_give_the_same_scan_patient_for_patient(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort = build_cohort(11, 400)
    jsonl, teams = tmp_path / "cohort.jsonl", tmp_path / "teams.yaml"
    with open(jsonl, "w", encoding="utf-8") as file:
        write_cohort(cohort, file)
    teams.write_text(teams_yaml(cohort.teams), encoding="utf-8")
    fhir_teams = tmp_path / "fhir-teams.yaml"
    assert main(["demo-data", "--seed", "11", "--patients", "400", "--format", "fhir", "--out",
                 str(tmp_path / "export"), "--teams-out", str(fhir_teams)]) == 0

    use(f"sqlite:///{tmp_path / 'jsonl.db'}", monkeypatch)
    assert main(["teams", "load", str(teams)]) == 0 and main(["import", str(jsonl)]) == 0
    from_jsonl = scan(capsys)
    use(database_url, monkeypatch)
    assert main(["teams", "load", str(fhir_teams)]) == 0 and main(["import", str(tmp_path / "export")]) == 0
    out = capsys.readouterr().out.splitlines()
    from_fhir = scan(capsys)

    valid = sum(1 for p in cohort.patients() if p.defect is None)
    assert next(line for line in out if line.startswith("export/: ")) == (
        f"export/: {valid} read, {valid} inserted, 0 updated, 0 unchanged, 0 quarantined")
    assert len(from_fhir) == valid and from_fhir == from_jsonl


@pytest.fixture
def team_db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use(database_url, monkeypatch)
    (tmp_path / "teams.yaml").write_text(TEAMS_YAML, encoding="utf-8")
    assert main(["teams", "load", str(tmp_path / "teams.yaml")]) == 0
    return database_url


def test_the_import_prints_a_second_line_of_resources_and_stores_each_scan_with_its_resource(
        team_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_export(tmp_path / "export", [*complete("p1"), study("p1", "s1", "2023-01-02", "CT"),
                                                patient("p2", "MRN2"), study("p2", "s2", "2023-01-02", "CT")])
    capsys.readouterr()
    assert main(["import", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        "export/: 1 read, 1 inserted, 0 updated, 0 unchanged, 0 quarantined",
        "export/: resources: 7 read, 5 used, 2 skipped, 0 unreadable (read/used/skipped by type: CareTeam 1/1/0, "
        "Condition 1/1/0, ImagingStudy 2/1/1, Patient 2/1/1, Procedure 1/1/0); skipped: 2 not a NET patient"]
    engine = make_engine(team_db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(imaging_studies.c.patient_id, imaging_studies.c.source,
                                       imaging_studies.c.source_key)).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [("MRN1", "fhir", "ImagingStudy/s1")]


def test_a_reimport_and_an_incremental_export_change_nothing_that_did_not_change(
        team_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = write_export(tmp_path / "full", [*complete("p1", "MRN1"), *complete("p2", "MRN2"),
                                            study("p1", "s1", "2023-01-02", "CT")])
    assert main(["import", str(full)]) == 0
    before = scan(capsys)
    assert main(["import", str(full)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "full/: 2 read, 0 inserted, 0 updated, 2 unchanged, 0 quarantined"
    assert scan(capsys) == before
    # _since: p1's Patient with a new study (and the old one again), nothing of p2
    incremental = write_export(tmp_path / "since", [patient("p1", "MRN1"), study("p1", "s1", "2023-01-02", "CT"),
                                                    study("p1", "s3", "2024-03-04", "MR")])
    assert main(["import", str(incremental)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "since/: 1 read, 0 inserted, 1 updated, 0 unchanged, 0 quarantined")
    after = scan(capsys)
    assert after[1] == before[1]  # MRN2 as it was
    assert json.loads(after[0])["last_scan"] == "2024-03-04" and json.loads(before[0])["last_scan"] == "2023-01-02"
    record = PatientStore(make_engine(team_db)).find_record("MRN1")
    assert record is not None and record.primary_site == "pancreas" and len(record.imaging) == 2


def test_a_net_patient_missing_pieces_is_quarantined_with_one_line_per_piece(
        team_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_export(tmp_path / "export", [patient("p1", "MRN1", birthDate=None), net_condition("p1")])
    assert main(["import", str(folder)]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("1 read, 0 inserted, 0 updated, 0 unchanged, 1 quarantined")
    [row] = PatientStore(make_engine(team_db)).open_quarantine_rows()
    assert (row.source, row.record_key) == ("export/", "MRN1")
    assert [e.field for e in row.errors] == ["birth_date", "resection_date", "care_team"]


def test_the_care_team_option_places_the_patients_no_team_claims(
        team_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_export(tmp_path / "export", complete("p1")[:3])
    assert main(["import", "--care-team", "nope", str(folder)]) == 2
    assert "--care-team nope: no such care team is loaded" in capsys.readouterr().err
    assert main(["import", "--care-team", "team-1", str(folder)]) == 0
    record = PatientStore(make_engine(team_db)).find_record("MRN1")
    assert record is not None and record.care_team == "team-1"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("patients.jsonl", json.dumps({"resourceType": "Patient", "id": "p1"}), "holds FHIR resources"),
    ("Patient.ndjson", json.dumps({"patient_id": "P1"}), "holds netflow records"),
], ids=["fhir-in-jsonl", "netflow-in-fhir"])
def test_a_file_in_the_other_format_is_refused_whole_and_nothing_is_imported(
        team_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str,
        message: str) -> None:
    good = write_export(tmp_path / "export", complete("p1"))
    (tmp_path / name).write_text(content + "\n", encoding="utf-8")
    assert main(["import", str(good), str(tmp_path / name)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert message in line and line.endswith("nothing was imported")
    assert PatientStore(make_engine(team_db)).find_record("MRN1") is None


def test_a_2_gb_line_is_read_past_without_being_held(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", complete("p1"))
    path = folder / "Observation.ndjson"
    with open(path, "wb") as out:
        out.write(b'{"resourceType": "Observation", "note": "')
        out.truncate(2 * 1024 ** 3)  # a sparse file: 2 GiB without a newline, costing no disk
        out.seek(0, 2)
        out.write(b'"}\n' + json.dumps(study("p1", "s1", "2023-01-02", "CT")).encode() + b"\n")
    [export] = gather(sorted(folder.iterdir()))
    assert isinstance(export, FhirExport)
    rows = list(export.rows())
    [problem] = [row.problem for row in rows if row.problem is not None]
    assert problem.message == "Observation.ndjson line 1 is longer than 64 MiB"
    assert export.tally.read["ImagingStudy"] == 1 and export.tally.unreadable == 1


def test_a_fhir_file_dropped_in_the_inbox_is_read_as_fhir_not_quarantined_line_by_line(
        team_db: str, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "Patient.ndjson").write_text("".join(json.dumps(r) + "\n" for r in complete("p1")), encoding="utf-8")
    with Installation.from_settings(Settings(database_url=team_db, inbox=inbox)) as inst:
        done = import_inbox_file(inst, "Patient.ndjson")
    assert (done["status"], done["read"], done["inserted"], done["quarantined"]) == ("processed", 1, 1, 0)
