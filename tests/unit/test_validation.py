"""Invalid records: one error per problem, each naming its field; never an exception."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from netflow.domain import evaluate, parse_record
from netflow.guidelines import load_rulebook
from tests.support.records import record, scan

BOOK = load_rulebook()


def error_fields(raw: Any) -> list[str]:
    result = evaluate(raw, date(2026, 12, 1), BOOK)
    assert result.status == "invalid"
    assert result.risk_tier is None and result.guideline is None
    return [e.field for e in result.errors]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("patient_id", None),
        ("patient_id", ""),
        ("patient_id", "x" * 65),
        ("patient_id", 12345),
        ("birth_date", "15/06/1960"),
        ("birth_date", "1960-02-30"),
        ("care_team", None),
        ("primary_site", "liver"),
        ("differentiation", "moderate"),
        ("grade", 4),
        ("grade", "2"),
        ("grade", 2.0),
        ("ki67_percent", 100.5),
        ("ki67_percent", -1),
        ("ki67_percent", "12"),
        ("ki67_percent", float("nan")),
        ("ki67_percent", True),
        ("tumor_size_mm", 0),
        ("tumor_size_mm", -3),
        ("nodes_positive", -1),
        ("nodes_positive", 1.5),
        ("nodes_examined", -2),
        ("margin", "R3"),
        ("hereditary_syndrome", "Lynch"),
        ("resection_date", None),
        ("resection_date", "2022-3-15"),
        ("status", "alive"),
        ("status_date", "yesterday"),
        ("guideline", "esmo"),
        ("imaging", "CT 2023"),
    ],
)
def test_a_bad_value_is_one_error_naming_its_field(field: str, value: Any) -> None:
    assert error_fields(record(**{field: value})) == [field]


def test_every_problem_gets_its_own_error() -> None:
    raw = record(ki67_percent=140, nodes_positive=5, nodes_examined=2, margin="R9",
                 imaging=[scan("2023-02-30", "PET")])
    assert error_fields(raw) == ["ki67_percent", "margin", "imaging[0].date", "imaging[0].modality",
                                 "nodes_positive"]


def test_an_imaging_error_names_the_entry() -> None:
    _, errors = parse_record(record(imaging=[scan("2023-01-01"), scan("2023-02-01", "Xray")]))
    assert errors[0].field == "imaging[1].modality"
    assert errors[0].message.startswith("must be one of CT, MRI")


def test_birth_after_resection_is_invalid() -> None:
    assert error_fields(record(birth_date="2023-01-01")) == ["birth_date"]


def test_missing_required_fields_are_each_reported() -> None:
    assert error_fields({}) == ["patient_id", "birth_date", "care_team", "primary_site", "resection_date"]


def test_a_json_value_that_is_not_an_object_is_invalid() -> None:
    assert error_fields([1, 2]) == ["record"]


def test_the_invalid_evaluation_keeps_the_patient_id_as_given() -> None:
    result = evaluate(record(patient_id="P77", grade=9), date(2026, 12, 1), BOOK)
    assert result.patient_id == "P77"


def test_optional_fields_may_be_absent_or_null() -> None:
    raw = {k: v for k, v in record().items() if k in
           ("patient_id", "birth_date", "care_team", "primary_site", "resection_date")}
    parsed, errors = parse_record(raw)
    assert errors == [] and parsed is not None
    assert (parsed.differentiation, parsed.status, parsed.imaging) == ("well", "active", ())


def test_unknown_extra_fields_are_ignored() -> None:
    assert parse_record(record(ward="5B"))[1] == []


def test_a_guideline_added_by_the_installation_is_accepted_in_a_record() -> None:
    assert parse_record(record(guideline="local"), ("nccn", "local"))[1] == []
