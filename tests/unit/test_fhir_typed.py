"""The typed decoding of resources (netflow.imports.fhir.typed) against the general way (orjson + piece_of):
the same piece or reason for every resource it takes, on random and corrupted resources; the rest declined."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from netflow.imports.fhir import codes, reading
from netflow.imports.fhir.resources import READ_TYPES, piece_of
from netflow.imports.fhir.typed import typed_piece
from tests.support.fhir import net_condition, observation, patient, resection, study

SYSTEMS = [codes.ICD10CM, codes.LOINC, codes.SNOMED, codes.DICOM, codes.V2_0203, codes.RESECTION_CODES,
           codes.NETFLOW_CODES, "", "urn:other"]
CODES = ["MR", "C25.4", "C7A.1", "C7A.010", "C7A.092", "C7B.01", "E31.21", "Q85.1", "80146002", "23968004",
         "local_excision", "21893-3", "21894-1", "21889-1", "33728-7", "33732-9", "29593-1", "97509-4", "G2",
         "1155707008", "271299001", "margin", "lymphovascular-invasion", "52101004", "2667000", "CT", "MR", "PT",
         "US", "ES", "NM", "15776009", "LP29684-5", "RAD", "x"]
WORDS = ["Ga-68 DOTATATE PET", "FDG PET/CT", "CT abdomen", "MRI liver", "ultrasound", "g2", " 3 ", "", "high"]
ODD = [None, 0, 7, -3, 2.5, 1e20, True, False, "", "x", "2024-05-01", [], {}, ["a"], {"a": 1}]
DATES = ["2024-05-01", "2024-05-01T10:00:00Z", "2024", "not a date", ""]
STATUSES = ["final", "amended", "completed", "available", "active", "inactive", "entered-in-error", "cancelled",
            "registered", "preliminary", "in-progress"]


def odd(rng: random.Random, value: Any) -> Any:
    """`value` mostly; now and then a value of any other JSON type."""
    return rng.choice(ODD) if rng.random() < 0.08 else value


def coding(rng: random.Random) -> Any:
    c: dict[str, Any] = {}
    if rng.random() < 0.9:
        c["system"] = odd(rng, rng.choice(SYSTEMS))
    if rng.random() < 0.9:
        c["code"] = odd(rng, rng.choice(CODES))
    if rng.random() < 0.3:
        c["display"] = odd(rng, rng.choice(WORDS))
    return odd(rng, c)


def concept(rng: random.Random) -> Any:
    c: dict[str, Any] = {}
    if rng.random() < 0.9:
        c["coding"] = odd(rng, [coding(rng) for _ in range(rng.randint(0, 3))])
    if rng.random() < 0.4:
        c["text"] = odd(rng, rng.choice(WORDS))
    return odd(rng, c)


def reference(rng: random.Random) -> Any:
    text = rng.choice(["Patient/p1", "Patient/p2", "https://ehr.example/fhir/Patient/p3", "Group/g1", "Patient/",
                       "Patient/a/b", "ImagingStudy/s1", "urn:uuid:1"])
    return odd(rng, {"reference": odd(rng, text)})


FIELDS: dict[str, Any] = {
    "id": lambda r: odd(r, r.choice(["p1", "p2", "s1", "", "r-9"])),
    "subject": reference,
    "status": lambda r: odd(r, r.choice(STATUSES)),
    "code": concept,
    "identifier": lambda r: odd(r, [odd(r, {"type": concept(r), "system": odd(r, r.choice(SYSTEMS)),
                                            "value": odd(r, r.choice(["MRN1", "hpb", ""]))})
                                    for _ in range(r.randint(0, 2))]),
    "name": lambda r: odd(r, [odd(r, {k: v for k, v in {"use": odd(r, r.choice(["official", "usual"])),
                                                         "text": odd(r, "Ada Testperson"),
                                                         "family": odd(r, "Testperson"),
                                                         "given": odd(r, [odd(r, "Ada"), "B"])}.items()
                                      if r.random() < 0.6}) for _ in range(r.randint(0, 2))]),
    "birthDate": lambda r: odd(r, r.choice(DATES)),
    "deceasedDateTime": lambda r: odd(r, r.choice(DATES)),
    "deceasedBoolean": lambda r: odd(r, r.choice([True, False])),
    "extension": lambda r: odd(r, [odd(r, {"url": odd(r, codes.NETFLOW_EXTENSION), "extension": odd(r, [
        odd(r, {"url": odd(r, r.choice(["guideline", "status", "gastric-type"])),
                r.choice(["valueString", "valueCode", "valueDate"]): odd(r, "type1")})])})]),
    "onsetDateTime": lambda r: odd(r, r.choice(DATES)),
    "recordedDate": lambda r: odd(r, r.choice(DATES)),
    "bodySite": lambda r: odd(r, [concept(r)]),
    "meta": lambda r: odd(r, {"profile": odd(r, [odd(r, codes.SURGICAL_PROFILE), "urn:x"])}),
    "performedDateTime": lambda r: odd(r, r.choice(DATES)),
    "performedPeriod": lambda r: odd(r, {"start": odd(r, r.choice(DATES))}),
    "effectiveDateTime": lambda r: odd(r, r.choice(DATES)),
    "valueQuantity": lambda r: odd(r, {"value": odd(r, r.choice([12, 1.25, 0, -1])),
                                       "code": odd(r, r.choice(["cm", "mm", "%"]))}),
    "valueInteger": lambda r: odd(r, r.randint(-2, 40)),
    "valueBoolean": lambda r: odd(r, r.choice([True, False])),
    "valueString": lambda r: odd(r, r.choice(WORDS)),
    "valueCodeableConcept": concept,
    "started": lambda r: odd(r, r.choice(DATES)),
    "modality": lambda r: odd(r, [coding(r) for _ in range(r.randint(0, 2))]),
    "series": lambda r: odd(r, [odd(r, {"modality": coding(r)}) for _ in range(r.randint(0, 2))]),
    "description": lambda r: odd(r, r.choice(WORDS)),
    "procedureCode": lambda r: odd(r, [concept(r)]),
    "category": lambda r: odd(r, [concept(r)]),
    "imagingStudy": lambda r: odd(r, [odd(r, {"reference": odd(r, "ImagingStudy/s1")})]),
    "text": lambda r: {"status": "generated", "div": "<div>...</div>"},
}


def random_resource(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice([*READ_TYPES, *READ_TYPES, "Encounter"])
    resource: dict[str, Any] = {"resourceType": odd(rng, kind)}
    for name in rng.sample(sorted(FIELDS), rng.randint(3, 12)):
        resource[name] = FIELDS[name](rng)
    return resource


def corrupted(rng: random.Random, line: bytes) -> bytes:
    """The line, or one of the ways a line goes wrong."""
    at = rng.randrange(len(line))
    return rng.choice([
        line, line, line,
        line[:at],                                              # cut short
        line[:at] + b"\xff" + line[at:],                        # not UTF-8
        line.replace(b'"p1"', b'"\\ud800"', 1),                 # a lone surrogate
        line.replace(b"12", b"NaN", 1),                         # not JSON for orjson, JSON for the stdlib
        line.replace(b"12", b"123456789012345678901234567890", 1),  # an integer beyond 64 bits
        line.replace(b"1.25", b"1e400", 1),
        b'{"id": 5, ' + line[1:],                               # a key twice (the last wins)
        b'{"resourceType": "Observation", ' + line[1:],         # a resourceType twice
        b"[" + line + b"]",
        line.replace(b'"code"', b'"code" ', 1),
    ])


def general(line: bytes) -> tuple[str, Any, Any] | str | None:
    """What the general way makes of a line: (type, id, piece or skip); None: not a resource; 'raises'."""
    resource, why, _ = reading._parse(line)
    kind = resource.get("resourceType") if why is None and isinstance(resource, dict) else None
    if not isinstance(kind, str):
        return None
    try:
        return kind, resource.get("id"), piece_of(resource, kind)
    except Exception:  # a resource too malformed for the dict readers: the typed way must decline it too
        return "raises"


def test_typed_decoding_gives_the_general_way_s_piece_or_declines() -> None:
    rng = random.Random(15)
    taken = declined = 0
    for _ in range(20_000):
        line = corrupted(rng, json.dumps(random_resource(rng)).encode())
        found, expected = typed_piece(line), general(line)
        if found is None:
            declined += 1
            continue
        taken += 1
        assert isinstance(expected, tuple), line
        assert repr(found) == repr(expected), line  # repr: True is not 1, and the data's order counts
    assert taken > 3_000 and declined > 3_000  # both ways are exercised


@pytest.mark.parametrize("resource", [
    patient("p1"), patient("p2", deceasedBoolean=True), net_condition("p1"), net_condition("p1", "C7A.1"),
    resection("p1"), observation("p1", "21893-3", valueInteger=2), study("p1", "s1", "2024-05-01", "CT"),
    {"resourceType": "CareTeam", "id": "t1", "subject": {"reference": "Patient/p1"},
     "identifier": [{"system": "urn:x", "value": "hpb"}], "text": {"div": "<div/>"}},
    {"resourceType": "DiagnosticReport", "id": "r1", "status": "final", "subject": {"reference": "Patient/p1"},
     "category": [{"coding": [{"code": "RAD"}]}], "code": {"text": "CT chest"}, "presentedForm": [{"data": "x"}]},
])
def test_the_usual_resources_take_the_typed_way(resource: dict[str, Any]) -> None:
    line = json.dumps(resource).encode()
    assert typed_piece(line) is not None
    assert repr(typed_piece(line)) == repr(general(line))


def test_a_block_reads_the_same_with_and_without_the_typed_way(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    lines = [corrupted(rng, json.dumps(random_resource(rng)).encode()).replace(b"\n", b" ") for _ in range(3_000)]
    data = b"\n".join(line for line in lines if general(line) != "raises") + b"\n"  # (those stop an import)
    typed = reading.read_block("Mixed.ndjson", 1, data)
    monkeypatch.setattr(reading, "typed_piece", lambda line: None)
    assert repr(typed) == repr(reading.read_block("Mixed.ndjson", 1, data))
