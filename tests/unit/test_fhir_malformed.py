"""A resource whose elements do not have FHIR's shape is an unreadable line, kept for quarantine: the import goes on."""

from __future__ import annotations

import json

import pytest

from netflow.imports.fhir import reading
from netflow.imports.fhir.codes import NETFLOW_EXTENSION

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01",
           "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                "code": "MR"}]}, "value": "MRN-SHAPES-1"}]}
SUBJECT = {"subject": {"reference": "Patient/p1"}}


@pytest.mark.parametrize("resource", [
    {**PATIENT, "id": "p2", "extension": 7},
    {**PATIENT, "id": "p3", "extension": [{"url": NETFLOW_EXTENSION, "extension": 7}]},
    {"resourceType": "Procedure", "id": "x1", "status": "completed", "meta": "a string", **SUBJECT},
], ids=["extension-a-number", "netflow-extension-inner-a-number", "procedure-meta-a-string"])
def test_a_resource_of_the_wrong_shape_is_unreadable_and_kept_whole(resource: dict[str, object]) -> None:
    data = (json.dumps(PATIENT) + "\n" + json.dumps(resource) + "\n").encode()

    block = reading.read_block("Export.ndjson", 1, data)

    assert [u.line_no for u in block.unreadable] == [2] and block.tally.unreadable == 1
    why = block.unreadable[0].why
    assert why.startswith(f"Export.ndjson line 2 is a {resource['resourceType']} whose elements do not have FHIR")
    assert "MRN" not in why and json.loads(json.loads(block.unreadable[0].text)) == resource
    assert len(block.groups) == 1  # the good Patient is read as before
