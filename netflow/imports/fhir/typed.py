"""The pieces of the resources netflow reads, decoded straight from their JSON text (msgspec), for speed.

>>> typed_piece(b'{"resourceType": "CareTeam", "id": "t1", "subject": {"reference": "Patient/p1"}}')  # doctest: +SKIP
('CareTeam', 't1', Piece(patient='Patient/p1', kind='team', data={'ids': []}))

Each type netflow reads (resources.READ_TYPES) is a Struct of only the fields its reader looks at, each of
the one JSON type the common case has: the rest of a resource is read past, never built. What it declines
(None) goes the general way (orjson, then `resources.piece_of` on the dict): another resource type, a field
of another JSON type, text that is not JSON, anything malformed. So the piece, or the reason to skip, is the
one `piece_of` gives for the same resource (tests/unit/test_fhir_typed.py compares the two on random and
corrupted resources); only the common case is faster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from netflow.imports.fhir import codes
from netflow.imports.fhir.resources import (
    _DICOM,
    _REPORT_WORDS,
    Piece,
    Skip,
    _day,
    _grade,
    _modality,
    _name_of,
    _patient_reference,
    condition_piece,
)

__all__ = ["typed_piece"]


class _Coding(Struct):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class _Concept(Struct):
    coding: list[_Coding] | None = None
    text: str | None = None


class _Reference(Struct):
    reference: str | None = None


class _Identifier(Struct):
    type: _Concept | None = None
    system: str | None = None
    value: str | None = None


class _HumanName(Struct):
    use: str | None = None
    text: str | None = None
    family: str | None = None
    given: list[str] | None = None


class _Meta(Struct):
    profile: list[str] | None = None


class _Period(Struct):
    start: str | None = None


class _Quantity(Struct):
    value: int | float | None = None
    code: str | None = None


class _Series(Struct):
    modality: _Coding | None = None


class _Extension(Struct):
    url: Any = None
    extension: list[dict[str, Any]] | None = None


class _Resource(Struct, tag_field="resourceType"):
    id: str | None = None
    subject: _Reference | None = None


class Patient(_Resource, tag=True):
    identifier: list[_Identifier] | None = None
    name: list[_HumanName] | None = None
    birthDate: str | None = None
    deceasedDateTime: str | None = None
    deceasedBoolean: bool | None = None
    extension: list[_Extension] | None = None


class Condition(_Resource, tag=True):
    code: _Concept | None = None
    onsetDateTime: str | None = None
    recordedDate: str | None = None
    bodySite: list[_Concept] | None = None
    extension: list[_Extension] | None = None


class Procedure(_Resource, tag=True):
    status: str | None = None
    code: _Concept | None = None
    meta: _Meta | None = None
    performedDateTime: str | None = None
    performedPeriod: _Period | None = None


class Observation(_Resource, tag=True):
    status: str | None = None
    code: _Concept | None = None
    effectiveDateTime: str | None = None
    valueQuantity: _Quantity | UnsetType | None = UNSET
    valueInteger: int | UnsetType | None = UNSET
    valueBoolean: bool | UnsetType | None = UNSET
    valueString: str | UnsetType | None = UNSET
    valueCodeableConcept: _Concept | None = None


class ImagingStudy(_Resource, tag=True):
    status: str | None = None
    started: str | None = None
    modality: list[_Coding] | None = None
    series: list[_Series] | UnsetType | None = UNSET
    description: str | None = None
    procedureCode: list[_Concept] | None = None


class DiagnosticReport(_Resource, tag=True):
    status: str | None = None
    category: list[_Concept] | None = None
    code: _Concept | None = None
    effectiveDateTime: str | None = None
    imagingStudy: list[_Reference] | None = None


class CareTeam(_Resource, tag=True):
    status: str | None = None
    identifier: list[_Identifier] | None = None


_Typed = Patient | Condition | Procedure | Observation | ImagingStudy | DiagnosticReport | CareTeam
_decode = msgspec.json.Decoder(_Typed).decode


def typed_piece(line: bytes) -> tuple[str, str | None, Piece | Skip] | None:
    """(resourceType, id, its piece or why it is skipped) of one line; None: the general way decides."""
    try:
        if not line.isascii():  # msgspec checks the UTF-8 of what it decodes only, not of what it reads past
            line.decode("utf-8")
        resource = _decode(line)
    except (UnicodeDecodeError, msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    reader = _READERS[type(resource)]
    kind_of_resource = type(resource).__name__
    if reader is _patient:
        return kind_of_resource, resource.id, _patient(resource, "")
    patient = _patient_reference(resource.subject.reference if resource.subject is not None else None)
    if patient is None:
        return kind_of_resource, resource.id, Skip("no Patient reference")
    return kind_of_resource, resource.id, reader(resource, patient)


def _codings(concept: _Concept | None) -> list[tuple[str, str]]:
    return _coding_list(concept.coding) if concept is not None else []


def _coding_list(codings: list[_Coding] | None) -> list[tuple[str, str]]:
    return [(c.system or "", c.code) for c in codings or () if c.code is not None]


def _codes(concept: _Concept | None, system: str) -> list[str]:
    return [code for sys, code in _codings(concept) if sys == system]


def _text(concept: _Concept | None) -> str:
    if concept is None:
        return ""
    return " ".join([concept.text or "", *(c.display or "" for c in concept.coding or ())])


def _extension_values(extensions: list[_Extension] | None) -> dict[str, Any]:
    """netflow's extension's values by sub-extension url (resources._extension_values)."""
    found: dict[str, Any] = {}
    for ext in extensions or ():
        if ext.url == codes.NETFLOW_EXTENSION:
            for part in ext.extension or ():
                if isinstance(url := part.get("url"), str):
                    found[url] = next((v for k, v in part.items() if k.startswith("value")), None)
    return found


def _patient(r: Any, _: str) -> Piece | Skip:
    mrns = [i.value for i in r.identifier or () if codes.MR_TYPE in _codes(i.type, codes.V2_0203)]
    names = r.name
    chosen = next((n for n in names if n.use == "official"), names[0]) if names else None
    name = None if chosen is None else _name_of(chosen.text, chosen.given or (), chosen.family)
    data: dict[str, Any] = {"mrn": mrns[0] if mrns else None, "name": name, "birth_date": r.birthDate}
    if r.deceasedDateTime is not None:
        data["deceased"] = _day(r.deceasedDateTime)
    elif r.deceasedBoolean is True:
        data["deceased"] = True
    data.update(_extension_values(r.extension))
    return Piece(f"Patient/{r.id}", "patient", data)


def _condition(r: Any, patient: str) -> Piece | Skip:
    return condition_piece(patient, _codes(r.code, codes.ICD10CM), _day(r.onsetDateTime or r.recordedDate),
                           lambda: (c for s in r.bodySite or () for c in _codes(s, codes.SNOMED)),
                           lambda: _extension_values(r.extension).get("gastric-type"))


def _procedure(r: Any, patient: str) -> Piece | Skip:
    if r.status != "completed":
        return Skip("not completed")
    profiles = (r.meta.profile if r.meta is not None else None) or ()
    snomed = _codes(r.code, codes.SNOMED)
    if not any(codes.known_resection(c) for c in snomed) and codes.SURGICAL_PROFILE not in profiles:
        return Skip("not a cancer-related surgical procedure")
    when = r.performedDateTime or (r.performedPeriod.start if r.performedPeriod is not None else None)
    kind = next((t for s, c in _codings(r.code) if (t := codes.resection_type(s, c)) is not None), None)
    return Piece(patient, "resection", {"date": _day(when), "type": kind})


def _observation(r: Any, patient: str) -> Piece | Skip:
    if r.status in ("entered-in-error", "cancelled", "registered", "preliminary"):
        return Skip("not final")
    field = None
    for system, code in _codings(r.code):
        if field := codes.observation_field(system, code):
            break
    if not field:
        return Skip("not a code netflow reads")
    when = _day(r.effectiveDateTime)
    if field == "disease_status":
        if codes.WORSENED in _codes(r.valueCodeableConcept, codes.SNOMED):
            return Piece(patient, "recurrence", {"date": when})
        return Skip("disease status other than worsened")
    return Piece(patient, "obs", {"field": field, "value": _value(field, r), "date": when})


def _value(field: str, r: Any) -> Any:
    if r.valueQuantity is not UNSET:
        quantity = r.valueQuantity
        if quantity is None:
            return None
        value = quantity.value
        if field == "tumor_size_mm" and quantity.code == "cm" and value is not None:
            return round(value * 10, 6)
        return value
    for value in (r.valueInteger, r.valueBoolean, r.valueString):
        if value is not UNSET:
            return value
    concept = r.valueCodeableConcept
    if field == "grade":
        return _grade([c for _, c in _codings(concept)], _text(concept))
    if field == "lymphovascular_invasion":
        found = _codes(concept, codes.SNOMED)
        return True if codes.PRESENT in found else False if codes.ABSENT in found else _text(concept) or None
    return next((c for _, c in _codings(concept)), _text(concept).strip() or None)


def _imaging_study(r: Any, patient: str) -> Piece | Skip:
    if r.status in ("entered-in-error", "cancelled", "registered"):
        return Skip("not available")
    found = [c for s, c in _coding_list(r.modality) if s in _DICOM]
    if r.series is not UNSET:
        found += [c for series in r.series or () if series.modality is not None
                  for s, c in _coding_list([series.modality]) if s in _DICOM]
    description, procedures = r.description, r.procedureCode
    words = (" ".join([description or "", *(_text(p) for p in procedures or ())])
             if description or procedures else "")
    return Piece(patient, "scan", {"date": _day(r.started), "modality": _modality(found, words),
                                   "key": f"ImagingStudy/{r.id}"})


def _diagnostic_report(r: Any, patient: str) -> Piece | Skip:
    categories = [c for cat in r.category or () for _, c in _codings(cat)]
    if "LP29684-5" not in categories and "RAD" not in categories:
        return Skip("not a radiology report")
    if r.status not in ("final", "amended", "corrected", "appended"):
        return Skip("not final")
    words = _text(r.code)
    tokens = set(words.casefold().replace("/", " ").replace("-", " ").split())
    found = [code for word, code in _REPORT_WORDS if word in tokens]
    studies = [s.reference for s in r.imagingStudy or () if s.reference is not None]
    return Piece(patient, "report", {"date": _day(r.effectiveDateTime), "modality": _modality(found, words),
                                     "studies": studies, "key": f"DiagnosticReport/{r.id}"})


def _care_team(r: Any, patient: str) -> Piece | Skip:
    if r.status in ("inactive", "entered-in-error"):
        return Skip("inactive care team")
    return Piece(patient, "team", {"ids": [f"{i.system or ''}|{i.value}" for i in r.identifier or ()
                                           if i.value is not None]})


_READERS: dict[type, Callable[[Any, str], Piece | Skip]] = {
    Patient: _patient, Condition: _condition, Procedure: _procedure, Observation: _observation,
    ImagingStudy: _imaging_study, DiagnosticReport: _diagnostic_report, CareTeam: _care_team,
}
