"""One FHIR resource -> the piece of a netflow record it holds, or why it is skipped.

>>> piece(json.loads(line))                                   # doctest: +SKIP
Piece(patient='Patient/p1', kind='scan', data={'date': '2024-05-01', 'modality': 'CT', 'key': 'ImagingStudy/s9'})
>>> piece({"resourceType": "Encounter", "id": "e1"})          # doctest: +SKIP
Skip(reason='type not read')

A piece is small (a few values): it is what the staging file keeps, so the export itself is never held
in memory. Values are passed on as the resource gives them: a Ki-67 of "high" reaches the record as
it is, and validation names the field. The codes are in `codes` and documented in docs/fhir.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from netflow.imports.fhir import codes

__all__ = ["READ_TYPES", "Piece", "Skip", "piece", "piece_of"]


class Piece(NamedTuple):
    patient: str  # "Patient/<id>"
    kind: str     # patient, net, recurrence, syndrome, resection, obs, scan, report, team
    data: dict[str, Any]


class Skip(NamedTuple):
    reason: str


def _codings(concept: Any) -> list[tuple[str, str]]:
    """(system, code) of each coding of a CodeableConcept."""
    return _coding_list(concept.get("coding")) if isinstance(concept, dict) else []


def _coding_list(codings: Any) -> list[tuple[str, str]]:
    """(system, code) of each of a list of Codings."""
    found = []
    for c in codings or ():
        if isinstance(c, dict) and isinstance(code := c.get("code"), str):
            system = c.get("system")
            found.append((system if type(system) is str else str(system or ""), code))
    return found


def _codes(concept: Any, system: str) -> list[str]:
    return [code for sys, code in _codings(concept) if sys == system]


def _text(concept: Any) -> str:
    """A CodeableConcept's text and its codings' displays, for the few values read from words."""
    if not isinstance(concept, dict):
        return ""
    words = [str(concept.get("text") or "")]
    words.extend(str(c.get("display") or "") for c in concept.get("coding") or () if isinstance(c, dict))
    return " ".join(words)


def _subject(resource: dict[str, Any], field: str = "subject") -> str | None:
    """'Patient/<id>' from a reference, whatever base URL it carries."""
    ref = resource.get(field)
    return _patient_reference(ref.get("reference") if isinstance(ref, dict) else None)


def _patient_reference(text: Any) -> str | None:
    """'Patient/<id>' from a reference's text, whatever base URL it carries."""
    if not isinstance(text, str):
        return None
    if text.startswith("Patient/") and len(text) > 8 and text.find("/", 8) < 0:  # the usual 'Patient/<id>'
        return text
    head, _, pid = text.rstrip("/").rpartition("/")
    if pid and (head == "Patient" or head.endswith("/Patient")):
        return text if head == "Patient" else f"Patient/{pid}"
    return None


def _day(value: Any) -> Any:
    """The date part of a FHIR date or dateTime ('2024-05-01T10:00:00Z' -> '2024-05-01'); else as given."""
    return value[:10] if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" else value


def _extension(resource: dict[str, Any]) -> dict[str, Any]:
    """netflow's extension's values by sub-extension url (docs/fhir.md)."""
    return _extension_values(resource.get("extension"))


def _extension_values(extensions: Any) -> dict[str, Any]:
    """netflow's extension's values by sub-extension url, from a resource's list of extensions."""
    found: dict[str, Any] = {}
    for ext in extensions or ():
        if isinstance(ext, dict) and ext.get("url") == codes.NETFLOW_EXTENSION:
            for part in ext.get("extension") or ():
                if isinstance(part, dict) and isinstance(part.get("url"), str):
                    found[part["url"]] = next((v for k, v in part.items() if k.startswith("value")), None)
    return found


def _patient(resource: dict[str, Any]) -> Piece | Skip:
    mrns = [i.get("value") for i in resource.get("identifier") or ()
            if isinstance(i, dict) and codes.MR_TYPE in _codes(i.get("type"), codes.V2_0203)]
    data: dict[str, Any] = {"mrn": mrns[0] if mrns else None, "name": _name(resource.get("name")),
                            "birth_date": resource.get("birthDate")}
    if resource.get("deceasedDateTime") is not None:
        data["deceased"] = _day(resource["deceasedDateTime"])
    elif resource.get("deceasedBoolean") is True:
        data["deceased"] = True
    data.update(_extension(resource))
    return Piece(f"Patient/{resource.get('id')}", "patient", data)


def _name(names: Any) -> str | None:
    """The official (else the first) HumanName: its text, else given names and family."""
    if not isinstance(names, list) or not names:
        return None
    chosen = next((n for n in names if isinstance(n, dict) and n.get("use") == "official"), names[0])
    if not isinstance(chosen, dict):
        return None
    return _name_of(chosen.get("text"), chosen.get("given") or (), chosen.get("family"))


def _name_of(text: Any, given: Iterable[Any], family: Any) -> str | None:
    """A HumanName's text, else its given names and family."""
    if isinstance(text, str):
        return str(text)
    parts = [*(g for g in given if isinstance(g, str)), family]
    return " ".join(p for p in parts if isinstance(p, str)) or None


def _condition(resource: dict[str, Any], patient: str) -> Piece | Skip:
    return condition_piece(patient, _codes(resource.get("code"), codes.ICD10CM),
                           _day(resource.get("onsetDateTime") or resource.get("recordedDate")),
                           lambda: (c for s in resource.get("bodySite") or () for c in _codes(s, codes.SNOMED)),
                           lambda: _extension(resource).get("gastric-type"))


def condition_piece(patient: str, icd: list[str], onset: Any, body_sites: Callable[[], Iterable[str]],
                    gastric_type: Callable[[], Any]) -> Piece | Skip:
    """A Condition's piece from its ICD-10-CM codes and onset (both readers: the dict one here, the typed one
    in typed.py); the body site's SNOMED codes and the gastric type are read only for a NET condition."""
    for code in icd:
        if (net := codes.net_condition(code)) is not None:
            site, poor = net
            if site is None:
                site = next((codes.BODY_SITES[c] for c in body_sites() if c in codes.BODY_SITES), None)
            return Piece(patient, "net", {"site": site, "poor": poor, "date": onset, "gastric_type": gastric_type()})
    if any(codes.secondary_net(code) for code in icd):
        return Piece(patient, "recurrence", {"date": onset})
    syndrome = next((s for code in icd if (s := codes.syndrome_of(code)) is not None), None)
    if syndrome is not None:
        return Piece(patient, "syndrome", {"syndrome": syndrome})
    return Skip("not a NET, recurrence or syndrome code")


def _procedure(resource: dict[str, Any], patient: str) -> Piece | Skip:
    if resource.get("status") != "completed":
        return Skip("not completed")
    snomed = _codes(resource.get("code"), codes.SNOMED)
    profiles = (resource.get("meta") or {}).get("profile") or ()
    if not any(codes.known_resection(c) for c in snomed) and codes.SURGICAL_PROFILE not in profiles:
        return Skip("not a cancer-related surgical procedure")
    period = resource.get("performedPeriod")
    when = resource.get("performedDateTime") or (period.get("start") if isinstance(period, dict) else None)
    kind = next((t for s, c in _codings(resource.get("code")) if (t := codes.resection_type(s, c)) is not None), None)
    return Piece(patient, "resection", {"date": _day(when), "type": kind})


def _observation(resource: dict[str, Any], patient: str) -> Piece | Skip:
    if resource.get("status") in ("entered-in-error", "cancelled", "registered", "preliminary"):
        return Skip("not final")
    field = None
    for system, code in _codings(resource.get("code")):
        if field := codes.observation_field(system, code):
            break
    if not field:
        return Skip("not a code netflow reads")
    when = _day(resource.get("effectiveDateTime"))
    if field == "disease_status":
        if codes.WORSENED in _codes(resource.get("valueCodeableConcept"), codes.SNOMED):
            return Piece(patient, "recurrence", {"date": when})
        return Skip("disease status other than worsened")
    return Piece(patient, "obs", {"field": field, "value": _value(field, resource), "date": when})


def _value(field: str, resource: dict[str, Any]) -> Any:
    if "valueQuantity" in resource:
        quantity = resource["valueQuantity"] if isinstance(resource["valueQuantity"], dict) else {}
        value = quantity.get("value")
        if field == "tumor_size_mm" and quantity.get("code") == "cm" and isinstance(value, (int, float)):
            return round(value * 10, 6)
        return value
    for key in ("valueInteger", "valueBoolean", "valueString"):
        if key in resource:
            return resource[key]
    concept = resource.get("valueCodeableConcept")
    if field == "grade":
        return _grade([c for _, c in _codings(concept)], _text(concept))
    if field == "lymphovascular_invasion":
        found = _codes(concept, codes.SNOMED)
        return True if codes.PRESENT in found else False if codes.ABSENT in found else _text(concept) or None
    return next((c for _, c in _codings(concept)), _text(concept).strip() or None)


def _grade(found: list[str], text: str) -> Any:
    """The grade of a histologic grade's codes, else of its words (as given when they name none)."""
    return next((codes.GRADE_VALUES[c] for c in found if c in codes.GRADE_VALUES),
                codes.GRADE_VALUES.get(text.strip().upper(), text.strip() or None))


def _imaging_study(resource: dict[str, Any], patient: str) -> Piece | Skip:
    if resource.get("status") in ("entered-in-error", "cancelled", "registered"):
        return Skip("not available")
    found = [c for s, c in _coding_list(resource.get("modality")) if s in _DICOM]
    if "series" in resource:
        found += [c for series in resource.get("series") or () if isinstance(series, dict)
                  for s, c in _coding_list([series.get("modality")]) if s in _DICOM]
    description, procedures = resource.get("description"), resource.get("procedureCode")
    words = (" ".join([str(description or ""), *(_text(p) for p in procedures or ())])
             if description or procedures else "")
    return Piece(patient, "scan", {"date": _day(resource.get("started")), "modality": _modality(found, words),
                                   "key": f"ImagingStudy/{resource.get('id')}"})


_DICOM = (codes.DICOM, "")


def _modality(found: list[str], words: str) -> str:
    """netflow's modality from DICOM modality codes (and, for a PET, the tracer named in the text)."""
    if "PT" in found:
        return codes.pet_modality(words)
    if "US" in found and "ES" in found:
        return "EUS"
    return next((codes.MODALITIES[c] for c in found if c in codes.MODALITIES), "other")


_REPORT_WORDS = (("pet", "PT"), ("ct", "CT"), ("mri", "MR"), ("mr", "MR"), ("ultrasound", "US"), ("us", "US"),
                 ("endoscopy", "ES"))


def _diagnostic_report(resource: dict[str, Any], patient: str) -> Piece | Skip:
    categories = [c for cat in resource.get("category") or () for _, c in _codings(cat)]
    if "LP29684-5" not in categories and "RAD" not in categories:
        return Skip("not a radiology report")
    if resource.get("status") not in ("final", "amended", "corrected", "appended"):
        return Skip("not final")
    words = _text(resource.get("code"))
    tokens = set(words.casefold().replace("/", " ").replace("-", " ").split())
    found = [code for word, code in _REPORT_WORDS if word in tokens]
    studies = [r["reference"] for r in resource.get("imagingStudy") or ()
               if isinstance(r, dict) and isinstance(r.get("reference"), str)]
    return Piece(patient, "report", {"date": _day(resource.get("effectiveDateTime")),
                                     "modality": _modality(found, words), "studies": studies,
                                     "key": f"DiagnosticReport/{resource.get('id')}"})


def _care_team(resource: dict[str, Any], patient: str) -> Piece | Skip:
    if resource.get("status") in ("inactive", "entered-in-error"):
        return Skip("inactive care team")
    ids = [f"{i.get('system') or ''}|{i.get('value')}" for i in resource.get("identifier") or ()
           if isinstance(i, dict) and isinstance(i.get("value"), str)]
    return Piece(patient, "team", {"ids": ids})


_READERS: dict[str, Callable[[dict[str, Any], str], Piece | Skip]] = {
    "Condition": _condition, "Procedure": _procedure, "Observation": _observation,
    "ImagingStudy": _imaging_study, "DiagnosticReport": _diagnostic_report, "CareTeam": _care_team,
}
READ_TYPES = ("Patient", *_READERS)


def piece(resource: dict[str, Any]) -> Piece | Skip:
    """The piece of a netflow record this resource holds, or why it is skipped."""
    return piece_of(resource, resource.get("resourceType"))


def piece_of(resource: dict[str, Any], kind: Any) -> Piece | Skip:
    """`piece` of a resource whose resourceType was read already."""
    if kind == "Patient":
        return _patient(resource)
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    if reader is None:
        return Skip("type not read")
    patient = _subject(resource)
    if patient is None:
        return Skip("no Patient reference")
    return reader(resource, patient)
