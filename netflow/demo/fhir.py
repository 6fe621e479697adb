"""A synthetic cohort as a FHIR R4 Bulk Data export: one NDJSON file per resource type.

    cohort = build_cohort(seed=7, size=1000)
    write_fhir(cohort, Path("export"))              # export/Patient.ndjson, Condition.ndjson, ...
    Path("teams.yaml").write_text(fhir_teams_yaml(cohort.teams))   # the teams, with their `fhir` ids

The same patients as `write_cohort` writes as JSON Lines, coded as docs/fhir.md reads them, so that
importing either form gives the same records. The deliberately malformed records are left out: their
defects (a wrong type, an unknown field) belong to the JSON Lines format and have no FHIR form.
Deterministic: the same cohort gives the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from netflow.demo.cohort import Cohort
from netflow.demo.teams import DemoTeam

__all__ = ["FHIR_TYPES", "TEAM_SYSTEM", "fhir_resources", "fhir_teams_yaml", "write_fhir"]

FHIR_TYPES = ("Patient", "Condition", "Procedure", "Observation", "ImagingStudy", "CareTeam")
TEAM_SYSTEM = "https://hospital.example/fhir/CareTeam"
MRN_SYSTEM = "https://hospital.example/mrn"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
NETFLOW_EXTENSION = "https://netflow.example/fhir/StructureDefinition/surveillance"
NETFLOW_CODES = "https://netflow.example/fhir/CodeSystem/pathology"
RESECTION_CODES = "https://netflow.example/fhir/CodeSystem/resection-type"
SITE_CODES = {"duodenum": "C7A.010", "small_intestine": "C7A.012", "appendix": "C7A.020", "colon": "C7A.029",
              "rectum": "C7A.026", "lung": "C7A.090", "thymus": "C7A.091", "stomach": "C7A.092",
              "pancreas": "C25.4", "other": "C7A.098"}
BODY_SITES = {"pancreas": "15776009", "small_intestine": "30315005", "appendix": "66754008", "rectum": "34402009",
              "colon": "71854001", "stomach": "69695003", "duodenum": "38848004", "lung": "39607008",
              "thymus": "9875009"}
SYNDROMES = {"MEN1": "E31.21", "VHL": "Q85.83", "NF1": "Q85.01", "TSC": "Q85.1"}
PROCEDURES = {("appendix", "local_excision"): ("80146002", "Appendectomy"),
              ("colon", "local_excision"): ("78133002", "Endoscopic excision of lesion of large intestine"),
              ("rectum", "local_excision"): ("78133002", "Endoscopic excision of lesion of large intestine"),
              ("colon", "formal_resection"): ("23968004", "Colectomy"),
              ("lung", "formal_resection"): ("173171007", "Lobectomy of lung")}
SCANS = {"CT": (["CT"], ""), "MRI": (["MR"], ""), "US": (["US"], ""), "endoscopy": (["ES"], ""),
         "EUS": (["US", "ES"], ""), "SSTR_PET": (["PT", "CT"], "PET/CT with 68Ga-DOTATATE"),
         "FDG_PET": (["PT", "CT"], "PET/CT with FDG"), "other": (["NM"], "")}
GRADES = {1: "1155708003", 2: "1286893008", 3: "1155707008"}  # SNOMED low / intermediate / high histologic grade


def _ref(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def _patient(r: dict[str, Any], pid: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": pid,
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                        "system": MRN_SYSTEM, "value": r["patient_id"]}],
        "birthDate": r["birth_date"]}
    if r.get("name"):
        given, _, family = str(r["name"]).rpartition(" ")
        resource["name"] = [{"use": "official", "text": r["name"], "family": family, "given": given.split()}]
    parts: list[dict[str, Any]] = []
    if r.get("status") == "deceased":
        resource.update({"deceasedDateTime": r["status_date"]} if r.get("status_date") else {"deceasedBoolean": True})
    elif r.get("status") in ("opted_out", "transferred"):
        parts.append({"url": "status", "valueCode": r["status"]})
        if r.get("status_date"):
            parts.append({"url": "date", "valueDate": r["status_date"]})
    if r.get("guideline"):
        parts.append({"url": "guideline", "valueCode": r["guideline"]})
    if parts:
        resource["extension"] = [{"url": NETFLOW_EXTENSION, "extension": parts}]
    return resource


def _conditions(r: dict[str, Any], pid: str) -> Iterator[dict[str, Any]]:
    site, poor = r["primary_site"], r.get("differentiation") == "poor"
    code = "C7A.1" if poor else SITE_CODES[site]
    condition: dict[str, Any] = {
        "resourceType": "Condition", "id": f"{pid}-net",
        "meta": {"profile": [MCODE + "mcode-primary-cancer-condition"]},
        "code": {"coding": [{"system": ICD10CM, "code": code}]}, "subject": _ref(pid),
        "recordedDate": r["resection_date"]}
    if poor and site in BODY_SITES:
        condition["bodySite"] = [{"coding": [{"system": SNOMED, "code": BODY_SITES[site]}]}]
    if r.get("gastric_type") is not None:
        condition["extension"] = [{"url": NETFLOW_EXTENSION,
                                   "extension": [{"url": "gastric-type", "valueInteger": r["gastric_type"]}]}]
    yield condition
    if r.get("hereditary_syndrome"):
        yield {"resourceType": "Condition", "id": f"{pid}-syndrome", "subject": _ref(pid),
               "code": {"coding": [{"system": ICD10CM, "code": SYNDROMES[r["hereditary_syndrome"]]}]}}
    if r.get("status") == "recurrence":
        recurrence = {"resourceType": "Condition", "id": f"{pid}-recurrence", "subject": _ref(pid),
                      "code": {"coding": [{"system": ICD10CM, "code": "C7B.8"}]}}
        yield recurrence | ({"onsetDateTime": r["status_date"]} if r.get("status_date") else {})


def _procedure(r: dict[str, Any], pid: str) -> dict[str, Any]:
    kind = str(r.get("resection_type") or "")
    known = PROCEDURES.get((str(r["primary_site"]), kind))
    coding = ([{"system": SNOMED, "code": known[0], "display": known[1]}] if known
              else [{"system": RESECTION_CODES, "code": kind}] if kind else [])
    return {"resourceType": "Procedure", "id": f"{pid}-resection", "status": "completed",
            "meta": {"profile": [MCODE + "mcode-cancer-related-surgical-procedure"]},
            "code": {"coding": coding, "text": "Resection of the primary tumour"}, "subject": _ref(pid),
            "performedDateTime": r["resection_date"]}


def _observations(r: dict[str, Any], pid: str) -> Iterator[dict[str, Any]]:
    values: list[tuple[str, str, dict[str, Any]]] = []
    for name, code, unit in (("nodes_positive", "21893-3", None), ("nodes_examined", "21894-1", None),
                             ("tumor_size_mm", "21889-1", "mm"), ("ki67_percent", "29593-1", "%")):
        if r.get(name) is not None:
            value = {"valueQuantity": {"value": r[name], "unit": unit, "system": UCUM, "code": unit}} if unit else \
                {"valueInteger": r[name]}
            values.append((name, code, value))
    if r.get("grade") is not None:
        values.append(("grade", "33732-9", {"valueCodeableConcept": {
            "coding": [{"system": SNOMED, "code": GRADES[r["grade"]]}], "text": f"G{r['grade']}"}}))
    for name, code in (("margin", "margin"), ("lymphovascular_invasion", "lymphovascular-invasion")):
        if r.get(name) is not None:
            values.append((name, code, {"valueString": r[name]} if name == "margin" else {"valueBoolean": r[name]}))
    for name, code, value in values:
        system = NETFLOW_CODES if name in ("margin", "lymphovascular_invasion") else LOINC
        yield {"resourceType": "Observation", "id": f"{pid}-{name.replace('_', '-')}", "status": "final",
               "code": {"coding": [{"system": system, "code": code}]}, "subject": _ref(pid),
               "effectiveDateTime": r["resection_date"], **value}


def _studies(r: dict[str, Any], pid: str) -> Iterator[dict[str, Any]]:
    for number, scan in enumerate(r.get("imaging") or (), start=1):
        modalities, description = SCANS[scan["modality"]]
        study = {"resourceType": "ImagingStudy", "id": f"{pid}-s{number}", "status": "available",
                 "subject": _ref(pid), "started": scan["date"],
                 "modality": [{"system": DICOM, "code": m} for m in modalities]}
        yield study | ({"description": description} if description else {})


def fhir_resources(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The resources of one (well-formed) netflow record."""
    pid = str(record["patient_id"])
    yield _patient(record, pid)
    yield from _conditions(record, pid)
    yield _procedure(record, pid)
    yield from _observations(record, pid)
    yield from _studies(record, pid)
    yield {"resourceType": "CareTeam", "id": f"{pid}-team", "status": "active", "subject": _ref(pid),
           "identifier": [{"system": TEAM_SYSTEM, "value": record["care_team"]}]}


def write_fhir(cohort: Cohort, folder: Path, on_progress: Callable[[int], None] | None = None) -> int:
    """Write the cohort's well-formed patients as <Type>.ndjson files in `folder` (each complete or absent);
    return how many patients were written. `on_progress(seen)` is told after each block."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = {kind: folder / f"{kind}.ndjson.partial" for kind in FHIR_TYPES}
    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":")).encode
    written = seen = 0
    try:
        with ExitStack() as stack:
            outs = {kind: stack.enter_context(open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20))
                    for kind, path in partial.items()}
            for number in range(cohort.blocks):
                for patient in cohort.block(number):
                    seen += 1
                    if patient.defect is not None:
                        continue
                    written += 1
                    for resource in fhir_resources(patient.record):
                        outs[resource["resourceType"]].write(encode(resource) + "\n")
                if on_progress is not None:
                    on_progress(seen)
    except BaseException:
        for path in partial.values():
            path.unlink(missing_ok=True)
        raise
    for kind, path in partial.items():
        os.replace(path, folder / f"{kind}.ndjson")
    return written


def fhir_teams_yaml(teams: Sequence[DemoTeam], header: str = "") -> str:
    """The care teams YAML with each team's `fhir` identifier, the one its CareTeam resources carry."""
    import yaml

    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump({team.key: {**team.to_dict(), "fhir": [f"{TEAM_SYSTEM}|{team.key}"]} for team in teams},
                          sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000)
    return comments + body
