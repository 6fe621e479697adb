"""The pieces of one patient -> one raw netflow record, the pieces it lacks, and where each scan came from.

>>> patient = assemble(pieces, context)                  # doctest: +SKIP
>>> patient.raw["primary_site"], patient.missing          # doctest: +SKIP
('pancreas', [FieldError(field='resection_date', message='no completed resection Procedure ...')])

A patient is a NET patient (in scope) when the export holds a NET Condition for them, or a CareTeam that
names a netflow team, or when netflow already follows their MRN; the others are skipped (None). A NET
patient lacking a required piece is quarantined with one error per missing piece. For a patient netflow
already follows, a piece the export lacks (an incremental export) is kept from the stored record. A patient
whose Patient resource is not in the export (a `_since` export of a new scan) is known by the MRN an earlier
import read on their Patient (`known_mrn`: the `fhir_patients` map), and gets their stored record the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from netflow.domain.record import RECORD_FIELDS, FieldError, PatientRecord

__all__ = ["Context", "Patient", "assemble", "team_index"]

PATHOLOGY = ("grade", "ki67_percent", "tumor_size_mm", "nodes_positive", "nodes_examined", "margin",
             "lymphovascular_invasion")
MISSING = {
    "patient_id": "no Patient resource with an identifier of type MR (v2-0203) in the export",
    "birth_date": "the Patient resource has no birthDate",
    "primary_site": "no NET Condition (ICD-10-CM C7A.0x, C7A.1, C7A.8 or C25.4) in the export",
    "resection_date": "no completed resection Procedure with a performed date in the export",
    "care_team": "no CareTeam matching a team's fhir identifiers in the teams file, and no --care-team",
}


@dataclass(frozen=True)
class Context:
    """What assembling needs besides the export: the teams' FHIR identifiers, the fallback team, the
    stored records of MRNs (`stored`: by MRN, those netflow follows; one question for many), the MRNs earlier
    imports read for Patient ids (`linked`), and where to keep the (Patient id, MRN) pairs this import reads
    (`link`)."""

    teams: Mapping[str, str] = field(default_factory=dict)  # "system|value" or "value" -> team key
    default_team: str | None = None
    stored: Callable[[Collection[str]], Mapping[str, PatientRecord]] = lambda mrns: {}
    linked: Callable[[Collection[str]], Mapping[str, str]] = lambda fhir_ids: {}
    link: Callable[[list[tuple[str, str]]], None] = lambda pairs: None


@dataclass
class Patient:
    raw: dict[str, Any]
    missing: list[FieldError]
    scan_sources: tuple[tuple[str, str], ...]
    line: int
    used: dict[str, int]      # resource type -> pieces used
    skipped: dict[str, int]   # resource type -> pieces skipped (a report its ImagingStudy already gives)


def team_index(teams: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """'system|value' and bare 'value' identifiers -> team key (the teams file's `fhir` lists)."""
    return {identifier: key for key, ids in sorted(teams.items()) for identifier in ids}


def _team(ids: list[str], index: Mapping[str, str]) -> str | None:
    for identifier in ids:
        if identifier in index:
            return index[identifier]
        value = identifier.split("|", 1)[-1]
        if value in index:
            return index[value]
    return None


def assemble(pieces: list[tuple[str, str, dict[str, Any]]], context: Context, known_mrn: str | None = None
             ) -> Patient | None:
    """One patient's pieces ((resource type, kind, data), in reading order) as a record; None: not a NET patient.
    `known_mrn`: the MRN of a patient whose Patient resource is not among the pieces (read by an earlier import)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for _, kind, data in pieces:
        by_kind.setdefault(kind, []).append(data)
    person = by_kind.get("patient", [{}])[-1]
    nets = sorted(by_kind.get("net", []), key=lambda d: str(d.get("date") or ""))
    team = next((t for d in by_kind.get("team", []) if (t := _team(d["ids"], context.teams)) is not None), None)
    mrn = person.get("mrn") if isinstance(person.get("mrn"), str) and person.get("mrn") else None
    absent = "patient" not in by_kind and known_mrn is not None  # name, birth date, status: the stored ones
    mrn = known_mrn if absent else mrn
    wanted = mrn is not None and (absent or not (nets and by_kind.get("resection")))
    stored = context.stored([mrn]).get(mrn) if wanted and mrn is not None else None
    if not nets and team is None and stored is None:
        return None
    raw: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    raw.update(patient_id=mrn, name=person.get("name"), birth_date=person.get("birth_date"),
               care_team=team, guideline=person.get("guideline"))
    if nets:
        site = next((n["site"] for n in nets if n.get("site")), None)
        raw.update(primary_site=site or "other", differentiation="poor" if any(n["poor"] for n in nets) else "well",
                   gastric_type=next((n["gastric_type"] for n in nets if n.get("gastric_type") is not None), None))
    resections = sorted((r for r in by_kind.get("resection", []) if r.get("date")), key=lambda r: str(r["date"]))
    if resections:
        raw.update(resection_date=resections[0]["date"], resection_type=resections[0]["type"])
    for obs in sorted(by_kind.get("obs", []), key=lambda o: str(o.get("date") or "")):
        raw[obs["field"]] = obs["value"]  # the latest of each field wins
    raw["hereditary_syndrome"] = next((s["syndrome"] for s in by_kind.get("syndrome", [])), None)
    _status(raw, person, by_kind.get("recurrence", []))
    imaging, sources, replaced = _imaging(by_kind.get("scan", []), by_kind.get("report", []))
    raw["imaging"] = imaging
    if stored is not None:
        _keep_stored(raw, stored, bool(nets), bool(resections), absent)
    if raw["care_team"] is None:  # a team the export or the stored record gives wins over --care-team
        raw["care_team"] = context.default_team
    missing = [FieldError(name, message) for name, message in MISSING.items() if raw.get(name) is None]
    used: dict[str, int] = {}
    for kind_of_resource, _, _ in pieces:
        used[kind_of_resource] = used.get(kind_of_resource, 0) + 1
    skipped = {"DiagnosticReport": replaced} if replaced else {}
    if replaced:
        used["DiagnosticReport"] -= replaced
    return Patient(raw, missing, sources, int(person.get("line") or 0), used, skipped)


def _status(raw: dict[str, Any], person: dict[str, Any], recurrences: list[dict[str, Any]]) -> None:
    """deceased (Patient.deceased[x]) before recurrence (the earliest) before netflow's extension."""
    deceased = person.get("deceased")
    if deceased is not None:
        raw.update(status="deceased", status_date=None if deceased is True else deceased)
    elif recurrences:
        raw.update(status="recurrence", status_date=min(str(r.get("date") or "") for r in recurrences) or None)
    elif person.get("status") is not None:
        raw.update(status=person.get("status"), status_date=person.get("date"))


def _imaging(scans: list[dict[str, Any]], reports: list[dict[str, Any]]
             ) -> tuple[list[dict[str, Any]], tuple[tuple[str, str], ...], int]:
    """Studies, then the radiology reports of no study in the export, by date; their source keys; and
    how many reports were left out because their study is there."""
    studies = {s["key"] for s in scans}
    kept = [r for r in reports if not any(ref.split("/")[-2:] == key.split("/") for ref in r["studies"]
                                          for key in studies)]
    entries = sorted([*scans, *kept], key=lambda s: (str(s.get("date") or ""), s["key"]))
    return ([{"date": e["date"], "modality": e["modality"]} for e in entries],
            tuple(("fhir", e["key"]) for e in entries), len(reports) - len(kept))


def _keep_stored(raw: dict[str, Any], stored: PatientRecord, has_condition: bool, has_resection: bool,
                 absent: bool) -> None:
    """Fill what an incremental export does not give from the record netflow has (`absent`: its Patient too)."""
    def iso(value: object) -> object:
        return value.isoformat() if isinstance(value, date) else value

    groups: list[tuple[str, ...]] = [("care_team",), ("birth_date",), ("name",)]
    if not has_condition:
        groups.append(("primary_site", "differentiation", "gastric_type"))
    if not has_resection:
        groups.append(("resection_date", "resection_type"))
    groups.extend((name,) for name in (*PATHOLOGY, "hereditary_syndrome", "guideline"))
    for group in groups:
        if all(raw.get(name) is None for name in group):
            raw.update({name: iso(getattr(stored, name)) for name in group})
    earlier = stored.status == "recurrence" and stored.status_date is not None and (
        raw.get("status") == "recurrence" and str(raw.get("status_date") or "~") > stored.status_date.isoformat())
    if raw.get("status") is None or (absent and stored.status == "deceased"):  # deceased is on the Patient
        raw.update(status=stored.status, status_date=iso(stored.status_date))
    elif earlier:  # the first recurrence, as a full export's earliest recurrence gives it
        raw["status_date"] = iso(stored.status_date)
