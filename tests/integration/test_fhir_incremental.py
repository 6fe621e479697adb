"""An incremental (`_since`) FHIR export that holds a patient's new resources but not their Patient: the
resources reach the record netflow has for them (the `fhir_patients` map), as a full re-export would."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from netflow.adapters.db import make_engine
from netflow.adapters.fhir_exports import FhirPatientMap
from netflow.adapters.patients import PatientStore
from netflow.adapters.tables import fhir_patients, imaging_studies
from netflow.cli import main
from netflow.config import Settings
from netflow.domain.record import PatientRecord
from netflow.imports.fhir import Context, FhirExport, gather, team_index
from netflow.imports.fhir import source as fhir_source
from netflow.imports.rows import import_source
from netflow.installation import Installation
from tests.support.fhir import TEAM_SYSTEM, complete, net_condition, observation, patient, study, write_export

AS_OF = "2026-12-01"
TEAMS_YAML = f"""team-1:
  name: Team One
  navigators: [nav@hospital.example]
  attendings: [doc@hospital.example]
  leads: [lead@hospital.example]
  fhir: ["{TEAM_SYSTEM}|team-1"]
"""
KI67 = "29593-1"


def use(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point netflow at `url`, migrated, with the team loaded."""
    monkeypatch.setenv("NETFLOW_DATABASE_URL", url)
    (tmp_path / "teams.yaml").write_text(TEAMS_YAML, encoding="utf-8")
    assert main(["db", "upgrade"]) == 0 and main(["teams", "load", str(tmp_path / "teams.yaml")]) == 0


def imported(folder: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """`netflow import FOLDER`: its counts line and its resources line."""
    capsys.readouterr()
    assert main(["import", str(folder)]) == 0
    return capsys.readouterr().out.splitlines()[1:]


def scan(capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["scan", "--as-of", AS_OF]) == 0
    return capsys.readouterr().out.splitlines()


def record(url: str, mrn: str) -> PatientRecord:
    found = PatientStore(make_engine(url)).find_record(mrn)
    assert found is not None
    return found


def table_rows(url: str, query: Any) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]
    finally:
        engine.dispose()


def first_export() -> list[dict[str, Any]]:
    """Two NET patients, p1 (MRN1) with a CT and a Ki-67 of 4.5, and p2 (MRN2)."""
    return [*complete("p1", "MRN1"), *complete("p2", "MRN2"), study("p1", "s1", "2023-01-02", "CT"),
            observation("p1", KI67, valueQuantity={"value": 4.5, "code": "%"})]


NEW_STUDY = study("p1", "s3", "2024-03-04", "MR")
NEW_KI67 = observation("p1", KI67, oid="p1-ki67-2", effectiveDateTime="2024-01-05",
                       valueQuantity={"value": 12.0, "code": "%"})


@pytest.fixture
def followed(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> str:
    """A database where the first, full export was imported."""
    use(database_url, tmp_path, monkeypatch)
    assert imported(write_export(tmp_path / "full", first_export()), capsys)[0] == (
        "full/: 2 read, 2 inserted, 0 updated, 0 unchanged, 0 quarantined")
    return database_url


def same_as_a_full_reexport(url: str, resources: list[dict[str, Any]], tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The database's scan and records are those of a fresh database given the full export of `resources`,
    and importing that full export into it changes nothing."""
    after, records = scan(capsys), [record(url, "MRN1"), record(url, "MRN2")]
    full = write_export(tmp_path / "reexport", resources)
    assert imported(full, capsys)[0] == "reexport/: 2 read, 0 inserted, 0 updated, 2 unchanged, 0 quarantined"
    assert scan(capsys) == after
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    (tmp_path / "fresh").mkdir()
    use(fresh, tmp_path / "fresh", monkeypatch)
    imported(full, capsys)
    assert scan(capsys) == after
    assert [record(fresh, "MRN1"), record(fresh, "MRN2")] == records


def test_an_incremental_export_of_only_a_new_imaging_study_adds_the_scan_to_the_patient_it_belongs_to(
        followed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    before, mrn2 = record(followed, "MRN1"), record(followed, "MRN2")
    lines = imported(write_export(tmp_path / "since", [NEW_STUDY]), capsys)
    assert lines == ["ImagingStudy.ndjson: 1 read, 0 inserted, 1 updated, 0 unchanged, 0 quarantined",
                     "ImagingStudy.ndjson: resources: 1 read, 1 used, 0 skipped, 0 unreadable "
                     "(read/used/skipped by type: ImagingStudy 1/1/0)"]
    i = imaging_studies.c
    assert table_rows(followed, select(i.patient_id, i.date, i.modality, i.source, i.source_key)
                      .order_by(i.patient_id, i.date)) == [
        ("MRN1", date(2023, 1, 2), "CT", "fhir", "ImagingStudy/s1"),
        ("MRN1", date(2024, 3, 4), "MRI", "fhir", "ImagingStudy/s3"),
    ]
    after = record(followed, "MRN1")
    assert [(s.date.isoformat(), s.modality) for s in after.imaging] == [("2023-01-02", "CT"), ("2024-03-04", "MRI")]
    assert replace(after, imaging=before.imaging) == before
    assert record(followed, "MRN2") == mrn2
    same_as_a_full_reexport(followed, [*first_export(), NEW_STUDY], tmp_path, monkeypatch, capsys)


def test_an_incremental_export_of_only_a_new_ki67_observation_changes_the_ki67_and_nothing_else(
        followed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    before = record(followed, "MRN1")
    assert before.ki67_percent == 4.5
    assert imported(write_export(tmp_path / "since", [NEW_KI67]), capsys)[0] == (
        "Observation.ndjson: 1 read, 0 inserted, 1 updated, 0 unchanged, 0 quarantined")
    after = record(followed, "MRN1")
    assert after.ki67_percent == 12.0
    assert replace(after, ki67_percent=4.5) == before
    same_as_a_full_reexport(followed, [*first_export(), NEW_KI67], tmp_path, monkeypatch, capsys)


def test_an_incremental_resource_of_a_patient_id_no_import_has_read_is_skipped_and_counted(
        followed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = scan(capsys)
    lines = imported(write_export(tmp_path / "since", [study("p9", "s9", "2024-03-04", "CT")]), capsys)
    assert lines == ["ImagingStudy.ndjson: 0 read, 0 inserted, 0 updated, 0 unchanged, 0 quarantined",
                     "ImagingStudy.ndjson: resources: 1 read, 0 used, 1 skipped, 0 unreadable "
                     "(read/used/skipped by type: ImagingStudy 1/0/1); skipped: 1 not a NET patient"]
    assert scan(capsys) == before
    assert PatientStore(make_engine(followed)).open_quarantine_rows() == []


def test_running_the_same_incremental_export_again_changes_nothing(
        followed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    since = write_export(tmp_path / "since", [NEW_STUDY, NEW_KI67])
    assert imported(since, capsys)[0] == "since/: 1 read, 0 inserted, 1 updated, 0 unchanged, 0 quarantined"
    after, links = scan(capsys), table_rows(followed, select(fhir_patients).order_by(fhir_patients.c.fhir_id))
    assert [row[:2] for row in links] == [("p1", "MRN1"), ("p2", "MRN2")]
    assert imported(since, capsys)[0] == "since/: 1 read, 0 inserted, 0 updated, 1 unchanged, 0 quarantined"
    assert scan(capsys) == after
    assert table_rows(followed, select(fhir_patients).order_by(fhir_patients.c.fhir_id)) == links
    assert len(record(followed, "MRN1").imaging) == 2


def test_only_a_patient_whose_record_is_complete_is_kept_in_the_map(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(database_url, tmp_path, monkeypatch)
    folder = write_export(tmp_path / "export", [*complete("p1", "MRN1"), patient("p2", "MRN2"),
                                                net_condition("p2"), patient("p3", "MRN3")])
    assert imported(folder, capsys)[0] == "export/: 2 read, 1 inserted, 0 updated, 0 unchanged, 1 quarantined"
    assert table_rows(database_url, select(fhir_patients.c.fhir_id, fhir_patients.c.patient_id)) == [("p1", "MRN1")]


def test_an_incremental_export_imported_in_worker_processes_chunk_by_chunk_reaches_each_patient(
        followed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_source, "LINK_BATCH", 1)  # a look-up and a link write between every two chunks
    resources = [study("p1", "s3", "2024-03-04", "MR"), study("p2", "s4", "2024-05-06", "CT"),
                 *complete("p5", "MRN5"), study("p9", "s9", "2024-03-04", "CT")]
    with Installation.from_settings(Settings(database_url=followed, workers=2)) as inst:
        [export] = gather(sorted(write_export(tmp_path / "since", resources).iterdir()))
        assert isinstance(export, FhirExport)
        teams, links_at = inst.db.patients.care_teams(), datetime(2026, 12, 7, tzinfo=UTC)
        export.context = Context(team_index({key: team.fhir for key, team in teams.items()}), None,
                                 inst.db.patients.find_records, inst.db.fhir_patients.patients_of,
                                 lambda pairs: inst.db.fhir_patients.remember(pairs, at=links_at))
        counts = import_source(inst.db.patients, export, inst.book.ids, chunk_size=1, workers=2)
        links = inst.db.fhir_patients.patients_of(["p1", "p2", "p5", "p9"])
    assert (counts.read, counts.inserted, counts.updated, counts.quarantined) == (3, 1, 2, 0)
    assert links == {"p1": "MRN1", "p2": "MRN2", "p5": "MRN5"}
    assert [s.date.isoformat() for s in record(followed, "MRN2").imaging] == ["2024-05-06"]
    assert export.tally.reasons == {"not a NET patient": 1}


def test_an_incremental_export_of_many_known_patients_reads_their_records_a_batch_at_a_time_as_a_full_one_would(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    use(database_url, tmp_path, monkeypatch)
    people = {f"p{n:02d}": f"MRN{n:02d}" for n in range(25)}
    full = [*(r for pid, mrn in people.items() for r in complete(pid, mrn)),
            *(observation(pid, KI67, oid=f"{pid}-ki67", valueQuantity={"value": n + 0.5, "code": "%"})
              for n, pid in enumerate(people))]
    imported(write_export(tmp_path / "full", full), capsys)
    since = [study(pid, f"s-{pid}", "2024-03-04", "MR") for pid in people]
    monkeypatch.setattr(fhir_source, "LINK_BATCH", 10)
    asked: list[int] = []
    find_records = PatientStore.find_records

    def counted(store: PatientStore, patient_ids: Collection[str]) -> dict[str, PatientRecord]:
        asked.append(len(patient_ids))
        return find_records(store, patient_ids)

    monkeypatch.setattr(PatientStore, "find_records", counted)
    assert imported(write_export(tmp_path / "since", since), capsys)[0] == (
        "ImagingStudy.ndjson: 25 read, 0 inserted, 25 updated, 0 unchanged, 0 quarantined")
    assert asked == [10, 10, 5]  # one question per batch of patients, not one per patient
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    (tmp_path / "fresh").mkdir()
    use(fresh, tmp_path / "fresh", monkeypatch)
    imported(write_export(tmp_path / "reexport", [*full, *since]), capsys)
    mrns = sorted(people.values())
    incremental, reexported = (find_records(PatientStore(make_engine(url)), mrns) for url in (database_url, fresh))
    assert len(incremental) == 25 and incremental == reexported
    assert {len(record.imaging) for record in incremental.values()} == {1}


def test_the_map_keeps_a_pair_once_and_moves_a_patient_id_that_names_another_mrn(migrated_engine: Engine) -> None:
    links = FhirPatientMap(migrated_engine)
    first, later = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    links.remember([("p1", "MRN1"), ("p2", "MRN2"), ("p1", "MRN1")], at=first)
    links.remember([("p1", "MRN1"), ("p2", "MRN7")], at=later)
    with migrated_engine.connect() as conn:
        rows = conn.execute(select(fhir_patients).order_by(fhir_patients.c.fhir_id)).all()
    assert [(row.fhir_id, row.patient_id, row.updated_at.month) for row in rows] == [
        ("p1", "MRN1", 1), ("p2", "MRN7", 2)]
    assert links.patients_of([f"x{n}" for n in range(1200)] + ["p2"]) == {"p2": "MRN7"}  # 3 IN lists
