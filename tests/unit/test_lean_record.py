"""The lean path agrees with the full one: `quick_record` with `parse_record`, `to_json` with `to_dict`.

The records are the differential test's random boundary records (a share of them malformed in every
way section 1 lists) plus a few values only a JSON file can hold.
"""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

import orjson
import pytest

from netflow.domain import evaluate
from netflow.domain.evaluation import Evaluation
from netflow.domain.lean import quick_record
from netflow.domain.record import FieldError, parse_record
from netflow.guidelines import load_rulebook
from tests.support.records import record
from tests.unit.test_engine_differential import generate

BOOK = load_rulebook()
RECORDS = 5_000


def test_quick_record_builds_the_record_parse_record_builds_or_leaves_it_to_parse_record() -> None:
    rng = random.Random(13)
    built = 0
    for index in range(RECORDS):
        raw, _, _ = generate(rng, index)
        quick = quick_record(raw, BOOK.ids)
        full, errors = parse_record(raw, BOOK.ids)
        if quick is not None:
            built += 1
            assert (quick, errors) == (full, []), raw
    assert built > RECORDS // 2  # the lean path is the common one


@pytest.mark.parametrize("changes", [
    {"grade": True}, {"grade": 2.0}, {"ki67_percent": True}, {"ki67_percent": float("nan")},
    {"tumor_size_mm": 0}, {"nodes_positive": 3, "nodes_examined": 2}, {"gastric_type": 1},
    {"guideline": "nice"}, {"imaging": [{"date": "2024-02-30", "modality": "CT"}]}, {"imaging": {}},
    {"lymphovascular_invasion": 1}, {"status_date": "2024-1-1"}, {"patient_id": "P" * 65},
], ids=repr)
def test_quick_record_leaves_every_malformed_record_to_parse_record(changes: dict[str, Any]) -> None:
    raw = record(**changes)
    assert parse_record(raw, BOOK.ids)[0] is None
    assert quick_record(raw, BOOK.ids) is None


def test_to_json_is_to_dict_on_random_records() -> None:
    rng = random.Random(31)
    for index in range(RECORDS):
        raw, as_of, default = generate(rng, index)
        evaluation = evaluate(raw, as_of, BOOK.with_default(default))
        assert orjson.loads(evaluation.to_json()) == evaluation.to_dict()


@pytest.mark.parametrize("patient_id", [10**40, float("nan"), "\ud800", ["a"], {"b": 1}], ids=repr)
def test_to_json_writes_what_orjson_refuses_like_the_standard_library(patient_id: object) -> None:
    errors = (FieldError("patient_id", "must be a string"),)
    evaluation = Evaluation(patient_id, date(2026, 12, 1), "invalid", errors=errors, explanation="bad")
    line = evaluation.to_json().decode("utf-8")
    assert line == json.dumps(evaluation.to_dict(), ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "backslashreplace").decode("utf-8")
