"""record_hash across the rules v2 upgrade: a v1 record keeps its hash, a v2 field changes it.

The hash stored with each patient tells the importer whether a row changed. Were the v1 hashes to
move with the three new fields, re-importing an unchanged file after `netflow db upgrade` would
count (and rewrite) every patient as updated.
"""

from __future__ import annotations

from typing import Any

import pytest

from netflow.adapters.patients import PATIENT_FIELDS, record_hash
from netflow.domain.record import RECORD_FIELDS, PatientRecord, parse_record
from tests.support.v1 import v1_hash

# PATIENT_FIELDS as revision 0001 stored them (before resection_type, lymphovascular_invasion, gastric_type).
V1_RECORD: dict[str, Any] = {
    "patient_id": "MRN-é01", "name": "Zoë Ångström", "birth_date": "1960-06-15", "care_team": "gi-onc-east",
    "primary_site": "pancreas", "differentiation": "well", "grade": 2, "ki67_percent": 4.0, "tumor_size_mm": 25,
    "nodes_positive": 0, "nodes_examined": 12, "margin": "R0", "hereditary_syndrome": None,
    "resection_date": "2022-03-15", "imaging": [{"date": "2023-03-01", "modality": "CT"}], "status": "active",
    "status_date": None, "guideline": "nccn",
}
# record_hash(V1_RECORD) as netflow computed it before rules v2 (commit 4fe86b8).
V1_DIGEST = "8f009253bb2a042ce58b074d7eaa1971cf759389c15f1e1c79d1d82ec0838cc8"


def parsed(raw: dict[str, Any]) -> PatientRecord:
    record, errors = parse_record(raw)
    assert record is not None, errors
    return record




def test_the_stored_fields_are_the_record_fields_in_record_order() -> None:
    assert tuple(f for f in RECORD_FIELDS if f != "imaging") == PATIENT_FIELDS


def test_a_v1_record_hashes_exactly_as_before_the_upgrade() -> None:
    record = parsed(V1_RECORD)
    assert record_hash(record) == v1_hash(record) == V1_DIGEST


def test_v2_fields_given_as_null_keep_the_v1_hash() -> None:
    nulls = {"resection_type": None, "lymphovascular_invasion": None, "gastric_type": None}
    assert record_hash(parsed({**V1_RECORD, **nulls})) == V1_DIGEST


@pytest.mark.parametrize("fields", [
    {"resection_type": "formal_resection"},
    {"resection_type": "local_excision"},
    {"lymphovascular_invasion": False},
    {"lymphovascular_invasion": True},
    {"primary_site": "stomach", "gastric_type": 1},
], ids=["formal", "local", "lvi-false", "lvi-true", "gastric-type"])
def test_a_v2_field_changes_the_hash(fields: dict[str, Any]) -> None:
    base = parsed({**V1_RECORD, **{k: v for k, v in fields.items() if k == "primary_site"}})
    assert record_hash(parsed({**V1_RECORD, **fields})) != record_hash(base)


def test_each_v2_value_hashes_apart() -> None:
    variants = [{}, {"resection_type": "local_excision"}, {"resection_type": "formal_resection"},
                {"lymphovascular_invasion": False}, {"lymphovascular_invasion": True},
                {"resection_type": "local_excision", "lymphovascular_invasion": False}]
    digests = {record_hash(parsed({**V1_RECORD, **v})) for v in variants}
    assert len(digests) == len(variants)
