"""Reading an export: every line accounted for (read == used + skipped + unreadable), nothing held whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netflow.imports.fhir import Context, FhirExport, fhir_kind, gather, open_export, team_index
from netflow.imports.fhir import reading as fhir_source
from netflow.imports.formats import SourceError, SourceRow
from tests.support.fhir import (
    TEAM_SYSTEM,
    care_team,
    complete,
    net_condition,
    patient,
    resection,
    study,
    write_export,
)

TEAMS = Context(team_index({"team-1": (f"{TEAM_SYSTEM}|team-1",)}))


def read(folder: Path) -> tuple[FhirExport, list[SourceRow]]:
    [export] = gather(sorted(folder.iterdir()))
    assert isinstance(export, FhirExport)
    export.context = TEAMS
    return export, list(export.rows())


def balanced(export: FhirExport) -> bool:
    tally = export.tally
    return sum(tally.read.values()) == sum(tally.used.values()) + sum(tally.skipped.values())


def test_a_malformed_export_is_accounted_for_line_by_line(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", [
        resection("p1"),                       # a Procedure before its Patient in file order
        *complete("p1"),
        study("p1", "s1", "2023-01-02", "CT"), study("p1", "s1", "2023-01-02", "CT"),  # a duplicate
        {"resourceType": "Frobnication", "id": "x", "subject": {"reference": "Patient/p1"}},  # unknown type
        '{"resourceType": "Observation", "id": ',  # bad JSON
        json.dumps({"patient_id": "P9"}),          # not a resource
    ])
    export, rows = read(folder)
    patients = [row for row in rows if row.raw is not None]
    unreadable = [row.problem for row in rows if row.problem is not None]
    assert [row.raw["patient_id"] for row in patients] == ["MRN1"] and patients[0].missing == ()
    assert [p.message for p in unreadable if p is not None] == [
        "Observation.ndjson line 1 is not valid JSON (Expecting value)",
        "Observation.ndjson line 2 is not a FHIR resource (no resourceType)"]
    assert export.tally.unreadable == 2 and balanced(export)
    assert export.tally.reasons == {"duplicate (the last version kept)": 2, "type not read": 1}
    assert export.tally.summary().startswith("resources: 10 read, 5 used, 3 skipped, 2 unreadable")
    assert "other 1/0/1" in export.tally.summary() and "Frobnication" not in export.tally.summary()


def test_resources_of_patients_who_are_not_net_patients_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", [
        *complete("p1"), patient("p2", "MRN2"), resection("p2"), net_condition("p2", "I10"),
        study("p2", "s9", "2023-01-02", "CT")])
    export, rows = read(folder)
    assert [row.raw["patient_id"] for row in rows] == ["MRN1"]
    assert export.tally.reasons == {"not a NET patient": 3, "not a NET, recurrence or syndrome code": 1}
    assert balanced(export)


def test_a_net_patient_missing_pieces_comes_out_with_each_missing_piece(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", [net_condition("p1"), care_team("p1")])
    _, [row] = read(folder)
    assert [e.field for e in row.missing] == ["patient_id", "birth_date", "resection_date"]


def test_a_line_longer_than_the_limit_is_unreadable_and_the_lines_after_it_are_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_source, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(fhir_source, "_SKIP_CHUNK", 64)
    folder = write_export(tmp_path / "export", complete("p1"))
    long_line = json.dumps({"resourceType": "Observation", "id": "big", "note": "x" * 5000})
    with open(folder / "Observation.ndjson", "w", encoding="utf-8") as out:
        out.write(long_line + "\n" + json.dumps(study("p1", "s1", "2023-01-02", "CT")) + "\n")
    _, rows = read(folder)
    [problem] = [row.problem for row in rows if row.problem is not None]
    assert problem.message == "Observation.ndjson line 1 is longer than 1,000 bytes"
    assert [row.raw["imaging"] for row in rows if row.raw is not None] == [[{"date": "2023-01-02", "modality": "CT"}]]


def test_a_bundle_is_an_export_of_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in complete("p1")]}), encoding="utf-8")
    [export] = gather([path])
    assert isinstance(export, FhirExport) and export.bundle
    export.context = TEAMS
    assert [row.raw["patient_id"] for row in export.rows()] == ["MRN1"]


def test_ndjson_files_are_one_export_in_the_place_of_their_first_file(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", complete("p1"))
    netflow = tmp_path / "patients.jsonl"
    netflow.write_text(json.dumps({"patient_id": "P1"}) + "\n", encoding="utf-8")
    gathered = gather([netflow, *sorted(folder.iterdir())])
    assert gathered[0] == netflow and isinstance(gathered[1], FhirExport) and len(gathered) == 2
    assert gathered[1].name == "export/" and len(gathered[1].paths) == 4


@pytest.mark.parametrize(("name", "content", "message"), [
    ("patients.jsonl", json.dumps(patient("p1")), "patients.jsonl holds FHIR resources (resourceType Patient)"),
    ("patients.csv", "resourceType,id\nPatient,p1\n", "patients.csv looks like FHIR resources"),
    ("Patient.ndjson", json.dumps({"patient_id": "P1"}), "Patient.ndjson is named like a FHIR export file but holds "
                                                         "netflow records"),
    ("bundle.json", json.dumps([{"patient_id": "P1"}]), "bundle.json holds netflow records, not a FHIR Bundle"),
    ("bundle.json", json.dumps(patient("p1")), "bundle.json holds a FHIR Patient, not a FHIR Bundle"),
], ids=["fhir-in-jsonl", "fhir-in-csv", "netflow-in-ndjson", "netflow-in-json", "not-a-bundle"])
def test_a_file_that_looks_like_the_other_format_is_refused_naming_it(tmp_path: Path, name: str, content: str,
                                                                      message: str) -> None:
    path = tmp_path / name
    path.write_text(content + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as refused:
        fhir_kind(path)
    assert str(refused.value).startswith(message)


def test_netflow_files_are_not_fhir(tmp_path: Path) -> None:
    jsonl = tmp_path / "records.ndjson"
    jsonl.write_text(json.dumps({"patient_id": "P1"}) + "\n", encoding="utf-8")
    assert fhir_kind(jsonl) is None
    assert open_export([jsonl]).name == "records.ndjson"


@pytest.mark.parametrize("name", ["Ada\u0000Lovelace", "Ada\ud800"], ids=["nul", "lone-surrogate"])
def test_a_patient_whose_text_no_database_stores_is_an_unreadable_record(tmp_path: Path, name: str) -> None:
    person = patient("p1")
    person["name"] = [{"text": name}]
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Patient.ndjson").write_text(json.dumps(person) + "\n", encoding="utf-8")  # escaped: ASCII JSON
    write_export(tmp_path / "more", complete("p1")[1:])
    for path in (tmp_path / "more").iterdir():
        path.rename(folder / path.name)
    _, [row] = read(folder)
    assert row.raw is None and row.problem is not None and row.problem.field == "record"


def test_worker_processes_read_the_export_to_the_same_rows_and_counts(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_source, "BLOCK_BYTES", 300)  # a few lines a block, the last one read to its end
    folder = write_export(tmp_path / "export", [
        *(r for n in range(8) for r in complete(f"p{n}", f"MRN{n}")), "not json", patient("p9", "MRN9")])

    def read_with(workers: int) -> tuple[list[object], str]:
        [export] = gather(sorted(folder.iterdir()))
        assert isinstance(export, FhirExport)
        export.context, export.workers = TEAMS, workers
        return [(row.line_no, row.raw, row.problem) for row in export.rows()], export.tally.summary()

    assert read_with(2) == read_with(1)
    assert read_with(1)[1].startswith("resources: 34 read, 32 used, 1 skipped, 1 unreadable")
