"""Builders of FHIR R4 resources and exports for the FHIR import tests.

    write_export(tmp_path / "export", [patient("p1"), net_condition("p1"), resection("p1")])
    # -> export/Patient.ndjson, export/Condition.ndjson, export/Procedure.ndjson
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from netflow.domain.record import PatientRecord

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
TEAM_SYSTEM = "urn:oid:2.16.840.1.113883.3.example"


def ref(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def patient(pid: str, mrn: str | None = "MRN1", **fields: Any) -> dict[str, Any]:
    identifiers = [{"type": {"coding": [{"system": V2_0203, "code": "MR"}]}, "value": mrn}] if mrn else []
    return {"resourceType": "Patient", "id": pid, "identifier": identifiers,
            "name": [{"use": "official", "family": "Testperson", "given": ["Ada"]}],
            "birthDate": "1960-04-02", **fields}


def net_condition(pid: str, code: str = "C25.4", cid: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid or f"{pid}-c-{code}", "subject": ref(pid),
            "code": {"coding": [{"system": ICD10CM, "code": code}]}, **fields}


def resection(pid: str, code: str | None = None, when: str = "2022-03-01", status: str = "completed",
              **fields: Any) -> dict[str, Any]:
    coding = [{"system": SNOMED, "code": code}] if code else []
    return {"resourceType": "Procedure", "id": f"{pid}-resection", "status": status, "subject": ref(pid),
            "meta": {"profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-related-surgical-procedure"]},
            "code": {"coding": coding}, "performedDateTime": when, **fields}


def observation(pid: str, code: str, system: str = LOINC, oid: str | None = None, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid or f"{pid}-o-{code}", "status": "final", "subject": ref(pid),
            "code": {"coding": [{"system": system, "code": code}]}, "effectiveDateTime": "2022-03-02", **value}


def study(pid: str, sid: str, started: str, *modalities: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "ImagingStudy", "id": sid, "status": "available", "subject": ref(pid),
            "started": started, "modality": [{"system": DICOM, "code": m} for m in modalities], **fields}


def care_team(pid: str, value: str = "team-1", system: str = TEAM_SYSTEM) -> dict[str, Any]:
    return {"resourceType": "CareTeam", "id": f"{pid}-team", "status": "active", "subject": ref(pid),
            "identifier": [{"system": system, "value": value}]}


def complete(pid: str = "p1", mrn: str = "MRN1") -> list[dict[str, Any]]:
    """The resources of one NET patient that netflow can import: Patient, NET Condition, resection, CareTeam."""
    return [patient(pid, mrn), net_condition(pid), resection(pid), care_team(pid)]


def write_export(folder: Path, resources: Iterable[dict[str, Any] | str]) -> Path:
    """Resources into <Type>.ndjson files, in the order given; a str is written as a line of its own (a
    broken line) into Observation.ndjson."""
    folder.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {}
    for resource in resources:
        kind = resource.get("resourceType", "Other") if isinstance(resource, dict) else "Observation"
        lines.setdefault(str(kind), []).append(resource if isinstance(resource, str) else json.dumps(resource))
    for kind, content in lines.items():
        (folder / f"{kind}.ndjson").write_text("".join(line + "\n" for line in content), encoding="utf-8")
    return folder


class StoredRecords:
    """A fake of `PatientStore.find_records` over these records (a FHIR import's `Context.stored`), keeping the
    MRNs of each question asked."""

    def __init__(self, *records: PatientRecord) -> None:
        self.records = {record.patient_id: record for record in records}
        self.asked: list[list[str]] = []

    def __call__(self, mrns: Collection[str]) -> dict[str, PatientRecord]:
        self.asked.append(sorted(mrns))
        return {mrn: self.records[mrn] for mrn in mrns if mrn in self.records}
