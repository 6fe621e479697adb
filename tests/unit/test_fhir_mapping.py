"""Each row of the FHIR mapping (docs/fhir.md): a resource in, the netflow record field it fills out."""

from __future__ import annotations

from typing import Any

import pytest

from netflow.domain.record import PatientRecord, parse_record
from netflow.imports.fhir.assemble import Context, Patient, assemble, team_index
from netflow.imports.fhir.resources import Piece, Skip, piece
from tests.support.fhir import (
    LOINC,
    SNOMED,
    TEAM_SYSTEM,
    StoredRecords,
    care_team,
    complete,
    net_condition,
    observation,
    patient,
    resection,
    study,
)

TEAMS = Context(team_index({"team-1": (f"{TEAM_SYSTEM}|team-1",), "team-2": ("bare-2",)}))


def assembled(resources: list[dict[str, Any]], context: Context = TEAMS) -> Patient | None:
    pieces = []
    for resource in resources:
        found = piece(resource)
        assert isinstance(found, Piece), found
        pieces.append((resource["resourceType"], found.kind, found.data))
    return assemble(pieces, context)


def raw_of(*extra: dict[str, Any], base: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    result = assembled([*(complete() if base is None else base), *extra])
    assert result is not None
    return result.raw


def record_of(*extra: dict[str, Any]) -> PatientRecord:
    record, errors = parse_record(raw_of(*extra))
    assert record is not None, errors
    return record


def test_a_complete_patient_becomes_a_valid_record_keyed_by_the_mr_identifier() -> None:
    record = record_of()
    assert (record.patient_id, record.name, record.birth_date.isoformat()) == ("MRN1", "Ada Testperson", "1960-04-02")
    assert (record.primary_site, record.care_team, record.resection_date.isoformat()) == (
        "pancreas", "team-1", "2022-03-01")


def test_an_identifier_of_another_type_is_not_the_mrn() -> None:
    other = patient("p1", mrn=None, identifier=[{"type": {"coding": [{"code": "SS"}]}, "value": "123"}])
    result = assembled([other, net_condition("p1"), resection("p1"), care_team("p1")])
    assert result is not None and [e.field for e in result.missing] == ["patient_id"]


@pytest.mark.parametrize(("code", "site"), [
    ("C7A.010", "duodenum"), ("C7A.011", "small_intestine"), ("C7A.012", "small_intestine"),
    ("C7A.019", "small_intestine"), ("C7A.020", "appendix"), ("C7A.021", "colon"), ("C7A.025", "colon"),
    ("C7A.029", "colon"), ("C7A.026", "rectum"), ("C7A.090", "lung"), ("C7A.091", "thymus"),
    ("C7A.092", "stomach"), ("C25.4", "pancreas"), ("C7A.093", "other"), ("C7A.098", "other"),
], ids=lambda value: str(value))
def test_an_icd10cm_net_code_gives_the_primary_site(code: str, site: str) -> None:
    raw = raw_of(base=[patient("p1"), net_condition("p1", code), resection("p1"), care_team("p1")])
    assert (raw["primary_site"], raw["differentiation"]) == (site, "well")


def test_c7a1_is_a_poorly_differentiated_tumour_whose_site_comes_from_the_body_site() -> None:
    poor = net_condition("p1", "C7A.1", bodySite=[{"coding": [{"system": SNOMED, "code": "15776009"}]}])
    raw = raw_of(base=[patient("p1"), poor, resection("p1"), care_team("p1")])
    assert (raw["primary_site"], raw["differentiation"]) == ("pancreas", "poor")


def test_a_condition_that_is_not_a_net_is_skipped_with_its_reason() -> None:
    assert piece(net_condition("p1", "C18.0")) == Skip("not a NET, recurrence or syndrome code")


@pytest.mark.parametrize(("extra", "status", "status_date"), [
    ({"deceasedDateTime": "2025-01-02T10:00:00Z"}, "deceased", "2025-01-02"),
    ({"deceasedBoolean": True}, "deceased", None),
    ({"deceasedBoolean": False}, None, None),
], ids=["deceased-date", "deceased-true", "alive"])
def test_deceased_on_the_patient_is_status_deceased(extra: dict[str, Any], status: str | None,
                                                    status_date: str | None) -> None:
    raw = raw_of(base=[patient("p1", **extra), net_condition("p1"), resection("p1"), care_team("p1")])
    assert (raw["status"], raw["status_date"]) == (status, status_date)


def test_a_secondary_net_condition_is_a_recurrence_with_its_onset_date() -> None:
    raw = raw_of(net_condition("p1", "C7B.02", onsetDateTime="2024-06-01"))
    assert (raw["status"], raw["status_date"]) == ("recurrence", "2024-06-01")


def test_a_worsened_cancer_disease_status_is_a_recurrence() -> None:
    status = observation("p1", "97509-4", effectiveDateTime="2024-07-01",
                         valueCodeableConcept={"coding": [{"system": SNOMED, "code": "271299001"}]})
    raw = raw_of(status)
    assert (raw["status"], raw["status_date"]) == ("recurrence", "2024-07-01")


def test_an_improved_cancer_disease_status_is_skipped() -> None:
    status = observation("p1", "97509-4", valueCodeableConcept={"coding": [{"system": SNOMED, "code": "268910001"}]})
    assert isinstance(piece(status), Skip)


@pytest.mark.parametrize(("code", "kind"), [
    ("80146002", "local_excision"), ("78133002", "local_excision"), ("23968004", "formal_resection"),
    ("173171007", "formal_resection"), (None, None),
], ids=["appendectomy", "endoscopic-excision", "colectomy", "lobectomy", "uncoded"])
def test_a_completed_resection_gives_the_date_and_the_resection_type_by_its_code(code: str | None,
                                                                                 kind: str | None) -> None:
    raw = raw_of(base=[patient("p1"), net_condition("p1"), resection("p1", code, when="2021-05-06T08:00:00Z"),
                       care_team("p1")])
    assert (raw["resection_date"], raw["resection_type"]) == ("2021-05-06", kind)


def test_the_performed_period_start_is_the_resection_date() -> None:
    procedure = resection("p1", "80146002", performedPeriod={"start": "2020-02-03"})
    del procedure["performedDateTime"]
    raw = raw_of(base=[patient("p1"), net_condition("p1"), procedure, care_team("p1")])
    assert raw["resection_date"] == "2020-02-03"


def test_a_procedure_not_completed_is_skipped() -> None:
    assert piece(resection("p1", "80146002", status="in-progress")) == Skip("not completed")


@pytest.mark.parametrize(("resource", "field", "value"), [
    (observation("p1", "21893-3", valueInteger=2), "nodes_positive", 2),
    (observation("p1", "21894-1", valueQuantity={"value": 14}), "nodes_examined", 14),
    (observation("p1", "21889-1", valueQuantity={"value": 2.3, "code": "cm"}), "tumor_size_mm", 23.0),
    (observation("p1", "33728-7", valueQuantity={"value": 12, "code": "mm"}), "tumor_size_mm", 12),
    (observation("p1", "33732-9", valueCodeableConcept={"text": "G2"}), "grade", 2),
    (observation("p1", "33732-9", valueCodeableConcept={"coding": [{"system": SNOMED, "code": "1155707008"}]}),
     "grade", 3),
    (observation("p1", "29593-1", valueQuantity={"value": 4.5, "code": "%"}), "ki67_percent", 4.5),
    (observation("p1", "margin", "https://netflow.example/fhir/CodeSystem/pathology", valueString="R1"),
     "margin", "R1"),
    (observation("p1", "lymphovascular-invasion", "https://netflow.example/fhir/CodeSystem/pathology",
                 valueCodeableConcept={"coding": [{"system": SNOMED, "code": "52101004"}]}),
     "lymphovascular_invasion", True),
], ids=["nodes-positive", "nodes-examined", "size-cm", "size-max-mm", "grade-text", "grade-snomed", "ki67",
        "margin", "lvi"])
def test_a_pathology_observation_fills_its_field(resource: dict[str, Any], field: str, value: Any) -> None:
    assert raw_of(resource)[field] == value


def test_an_observation_of_another_loinc_code_is_skipped() -> None:
    assert piece(observation("p1", "718-7", valueQuantity={"value": 13})) == Skip("not a code netflow reads")


@pytest.mark.parametrize(("modalities", "description", "expected"), [
    (("CT",), "", "CT"), (("MR",), "", "MRI"), (("US",), "", "US"), (("ES",), "", "endoscopy"),
    (("US", "ES"), "", "EUS"), (("PT", "CT"), "PET/CT 68Ga-DOTATATE", "SSTR_PET"),
    (("PT",), "FDG PET", "FDG_PET"), (("PT",), "", "other"), (("NM",), "", "other"),
], ids=["CT", "MR", "US", "ES", "EUS", "SSTR-PET", "FDG-PET", "PET-no-tracer", "NM"])
def test_an_imaging_study_gives_a_scan_by_its_dicom_modality(modalities: tuple[str, ...], description: str,
                                                            expected: str) -> None:
    found = piece(study("p1", "s1", "2023-01-02T09:00:00Z", *modalities, description=description))
    assert isinstance(found, Piece)
    assert (found.data["date"], found.data["modality"], found.data["key"]) == ("2023-01-02", expected,
                                                                               "ImagingStudy/s1")


def test_each_scan_carries_its_resource_as_source_key() -> None:
    result = assembled([*complete(), study("p1", "s2", "2023-05-01", "MR"), study("p1", "s1", "2023-01-02", "CT")])
    assert result is not None
    assert result.raw["imaging"] == [{"date": "2023-01-02", "modality": "CT"},
                                     {"date": "2023-05-01", "modality": "MRI"}]
    assert result.scan_sources == (("fhir", "ImagingStudy/s1"), ("fhir", "ImagingStudy/s2"))


def radiology_report(rid: str, text: str, when: str, studies: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"resourceType": "DiagnosticReport", "id": rid, "status": "final", "subject": {"reference": "Patient/p1"},
            "category": [{"coding": [{"system": LOINC, "code": "LP29684-5"}]}], "code": {"text": text},
            "effectiveDateTime": when, "imagingStudy": [{"reference": f"ImagingStudy/{s}"} for s in studies]}


def test_a_radiology_report_gives_a_scan_only_when_its_study_is_not_in_the_export() -> None:
    result = assembled([*complete(), study("p1", "s1", "2023-01-02", "CT"),
                        radiology_report("r1", "CT abdomen", "2023-01-02", ("s1",)),
                        radiology_report("r2", "MRI liver", "2024-02-03")])
    assert result is not None
    assert result.raw["imaging"] == [{"date": "2023-01-02", "modality": "CT"},
                                     {"date": "2024-02-03", "modality": "MRI"}]
    assert result.scan_sources == (("fhir", "ImagingStudy/s1"), ("fhir", "DiagnosticReport/r2"))
    assert result.skipped == {"DiagnosticReport": 1}


@pytest.mark.parametrize(("team", "expected"), [
    (care_team("p1", "team-1"), "team-1"), (care_team("p1", "bare-2", "urn:any"), "team-2"),
], ids=["system-and-value", "bare-value"])
def test_the_care_team_is_matched_by_the_teams_fhir_identifiers(team: dict[str, Any], expected: str) -> None:
    assert raw_of(base=[patient("p1"), net_condition("p1"), resection("p1"), team])["care_team"] == expected


def test_an_unmatched_care_team_falls_back_to_the_care_team_option() -> None:
    context = Context(TEAMS.teams, default_team="fallback")
    result = assembled([patient("p1"), net_condition("p1"), resection("p1"), care_team("p1", "nobody")], context)
    assert result is not None and result.raw["care_team"] == "fallback" and result.missing == []


def test_a_net_patient_lacking_pieces_names_each_one() -> None:
    result = assembled([net_condition("p1")])
    assert result is not None
    assert [e.field for e in result.missing] == ["patient_id", "birth_date", "resection_date", "care_team"]
    assert "CareTeam" in result.missing[-1].message and "--care-team" in result.missing[-1].message


def test_a_patient_without_a_net_condition_or_a_netflow_care_team_is_not_a_net_patient() -> None:
    assert assembled([patient("p1"), resection("p1"), care_team("p1", "someone-else")]) is None


def test_a_known_patient_keeps_what_an_incremental_export_lacks() -> None:
    stored, _ = parse_record(raw_of(observation("p1", "29593-1", valueQuantity={"value": 4.5})))
    assert stored is not None
    context = Context(TEAMS.teams, stored=StoredRecords(stored))
    result = assembled([patient("p1", deceasedDateTime="2026-01-01")], context)
    assert result is not None and result.missing == []
    record, errors = parse_record(result.raw)
    assert record is not None, errors
    assert (record.status, record.primary_site, record.ki67_percent, record.care_team) == (
        "deceased", "pancreas", 4.5, "team-1")


def test_a_piece_without_a_patient_reference_is_skipped() -> None:
    orphan = study("p1", "s1", "2023-01-02", "CT")
    del orphan["subject"]
    assert piece(orphan) == Skip("no Patient reference")
    assert piece({"resourceType": "Encounter", "id": "e1"}) == Skip("type not read")


@pytest.mark.parametrize(("code", "syndrome"), [("E31.21", "MEN1"), ("Q85.83", "VHL"), ("Q85.01", "NF1"),
                                                ("Q85.1", "TSC")])
def test_a_hereditary_syndrome_condition_gives_the_syndrome(code: str, syndrome: str) -> None:
    assert raw_of(net_condition("p1", code))["hereditary_syndrome"] == syndrome


NETFLOW = "https://netflow.example/fhir/StructureDefinition/surveillance"


def test_netflows_extension_gives_the_gastric_type_the_status_and_the_guideline() -> None:
    gastric = net_condition("p1", "C7A.092", extension=[{"url": NETFLOW, "extension": [
        {"url": "gastric-type", "valueInteger": 1}]}])
    person = patient("p1", extension=[{"url": NETFLOW, "extension": [
        {"url": "status", "valueCode": "transferred"}, {"url": "date", "valueDate": "2025-02-03"},
        {"url": "guideline", "valueCode": "esmo2020"}]}])
    record, errors = parse_record(raw_of(base=[person, gastric, resection("p1"), care_team("p1")]))
    assert record is not None, errors
    assert (record.primary_site, record.gastric_type, record.status, record.status_date.isoformat() if
            record.status_date else None, record.guideline) == ("stomach", 1, "transferred", "2025-02-03", "esmo2020")
