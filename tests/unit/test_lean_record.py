"""The lean path agrees with the full one: `quick_record` and `decode_record` with `parse_record`, `to_json`
with `to_dict`.

The records are the differential test's random boundary records (a share of them malformed in every
way section 1 lists) plus a few values only a JSON file can hold; `decode_record` also gets their JSON
text mangled (characters dropped or added, numbers and strings swapped for odd ones, keys repeated,
bytes that are not UTF-8), and must build what the stdlib `json` and `parse_record` build, or leave it.
"""

from __future__ import annotations

import json
import random
import re
from datetime import date
from typing import Any

import orjson
import pytest

from netflow.domain import evaluate
from netflow.domain.evaluation import Evaluation
from netflow.domain.lean import decode_record, quick_record
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


ODD_NUMBERS = ("1e400", "-1e400", "-0", "0", "1.0", "2e0", "2E1", "0.5", "10000000000000000000000", "-3", "NaN",
               "Infinity", "99", "1.7976931348623157e308", "5e-324", "true", "null", '"2"')
ODD_STRINGS = ('"\\ud800"', '"\\u0043T"', '""', '" "', '"' + "x" * 65 + '"', '"\\u00e9"', '"2024-02-30"',
               '"2024-1-01"', '"2024-02-29"', '"\\u0032024-01-01"', '"pancreas"', '"stomach"', '"nccn"', '"CT"',
               '"MRI"', '"R1"', '"well"', '"active"', '"deceased"', '"\\ud83d\\ude00"', "1", "null", "[]", "{}")
PUNCTUATION = '{}[]",:0123456789.eE-+ \\u'
NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def mangled(rng: random.Random, line: bytes) -> bytes:
    """`line` changed in one of the ways a JSON file can be wrong, or odd but right."""
    how = rng.randrange(7)
    at = rng.randrange(len(line) + 1)
    if how == 0:
        return line[:at] + line[at + 1:]
    if how == 1:
        return line[:at] + rng.choice(PUNCTUATION).encode() + line[at:]
    tokens = list((NUMBER if how == 2 else STRING).finditer(line))
    if how in (2, 3) and tokens:
        token = rng.choice(tokens)
        new = rng.choice(ODD_NUMBERS if how == 2 else ODD_STRINGS).encode()
        return line[:token.start()] + new + line[token.end():]
    if how == 4 and line.endswith(b"}"):  # a key given twice: the last one counts
        field = rng.choice(("patient_id", "grade", "primary_site", "imaging", "resection_date", "gastric_type"))
        value = rng.choice(ODD_STRINGS + ODD_NUMBERS)
        return line[:-1] + f', "{field}": {value}}}'.encode()
    if how == 5:
        return line[:at] + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80")) + line[at:]
    return b" " + line + rng.choice((b"", b" ", b"\t", b" x", b"{}", b"\n"))


def read_by_the_stdlib(line: bytes) -> object:
    """The raw record the stdlib path reads from the line (`netflow evaluate`), or a marker when not JSON."""
    try:
        return json.loads(line.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return "<not JSON>"


def assert_decoded_like_the_stdlib(line: bytes) -> bool:
    """decode_record builds what parse_record builds from the stdlib's reading, or returns None."""
    decoded = decode_record(line, BOOK.ids)
    if decoded is not None:
        full, errors = parse_record(read_by_the_stdlib(line), BOOK.ids)
        assert (decoded, errors) == (full, []), line
    return decoded is not None


def test_decode_record_builds_what_parse_record_builds_from_the_json_or_leaves_the_line() -> None:
    rng = random.Random(7)
    built = mangled_built = 0
    for index in range(RECORDS):
        raw, _, _ = generate(rng, index)
        line = json.dumps(raw, ensure_ascii=rng.random() < 0.5).encode("utf-8")
        built += assert_decoded_like_the_stdlib(line)
        if isinstance(raw, dict) and quick_record(raw, BOOK.ids) is not None:
            assert decode_record(line, BOOK.ids) is not None, line  # nothing quick_record takes is left out
        for _ in range(3):
            line = mangled(rng, line)
            mangled_built += assert_decoded_like_the_stdlib(line)
    assert built > RECORDS // 2
    assert mangled_built > RECORDS // 4  # many mangled lines are still records: the comparison bites


@pytest.mark.parametrize("changes", [
    {"nodes_examined": 10**40}, {"nodes_positive": 10**30, "nodes_examined": 10**40}, {"tumor_size_mm": 10**30},
    {"patient_id": "\U0001f600" * 64}, {"name": "Ren\u00e9e"}, {"comment": [[[[1]]]]}, {"ki67_percent": 100},
    {"imaging": [{"date": "2024-03-01", "modality": "CT", "note": "x"}]}, {"imaging": None}, {"status_date": None},
], ids=repr)
def test_decode_record_takes_odd_but_well_formed_records_as_parse_record_does(changes: dict[str, Any]) -> None:
    line = json.dumps(record(**changes)).encode("utf-8")
    assert parse_record(read_by_the_stdlib(line), BOOK.ids)[0] is not None
    assert assert_decoded_like_the_stdlib(line)


@pytest.mark.parametrize("line", [
    json.dumps(record(ki67_percent=float("nan"))).encode(), json.dumps(record(tumor_size_mm=float("inf"))).encode(),
    json.dumps(record()).replace('"care_team"', '"comment": ' + "[" * 5000 + "]" * 5000 + ', "care_team"').encode(),
    json.dumps(record(name="\ud800")).encode(), json.dumps(record(), ensure_ascii=False).encode()[:-1],
    json.dumps(record(patient_id="Ren\u00e9e"), ensure_ascii=False).encode("latin-1"),
    b"[" + json.dumps(record()).encode() + b"]",
    b"", b"   ", b"null", json.dumps(record()).encode() + b" {}", json.dumps(record(grade=2.0)).encode(),
    json.dumps(record(gastric_type=1)).encode(), json.dumps(record(guideline="nice")).encode(),
    json.dumps(record(birth_date="2030-01-01")).encode(), json.dumps(record(status_date="2024-1-1")).encode(),
], ids=lambda line: repr(line[:60]))
def test_decode_record_leaves_what_it_does_not_plainly_read_to_the_stdlib(line: bytes) -> None:
    assert decode_record(line, BOOK.ids) is None
