"""The import's fast reading agrees with the stdlib and with `parse_record`.

`jsonl_row` reads a line through msgspec's decoder when it can; it must give the raw value `json.loads`
gives (same types: an integer stays an integer, however long), or the same problem. The import's check
takes a plainly well-formed record through `quick_record`; a row must come out as `parse_record` alone
would have it (the same record, or quarantined with the same errors).
"""

from __future__ import annotations

import json
import random
from datetime import date

import pytest

from netflow.guidelines import load_rulebook
from netflow.imports import formats, rows
from netflow.imports.formats import jsonl_row
from tests.unit.test_engine_differential import generate
from tests.unit.test_lean_record import mangled

BOOK = load_rulebook()
LINES = 4_000


def stdlib_row(number: int, text: str, monkeypatch: pytest.MonkeyPatch) -> formats.SourceRow:
    """What jsonl_row gives when the stdlib json reads every line."""
    with monkeypatch.context() as patched:
        patched.setattr(formats, "_loads", json.loads)
        return jsonl_row(number, text)


def typed(row: formats.SourceRow) -> tuple[str, object]:
    """The row with the types of its raw value spelled out (1 and 1.0 are equal, their reprs are not)."""
    return repr(row.raw), row.problem


def random_lines(seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for index in range(LINES):
        raw, _, _ = generate(rng, index)
        line = json.dumps(raw, ensure_ascii=rng.random() < 0.5).encode("utf-8")
        for _ in range(rng.choice((0, 0, 1, 2))):
            line = mangled(rng, line)
        text = line.decode("utf-8", "replace").strip()
        if text:
            lines.append(text)
    return lines


def test_jsonl_row_reads_each_line_as_the_stdlib_json_does(monkeypatch: pytest.MonkeyPatch) -> None:
    read = 0
    for number, text in enumerate(random_lines(17), start=1):
        row = jsonl_row(number, text)
        assert typed(row) == typed(stdlib_row(number, text, monkeypatch)), text
        read += row.problem is None
    assert read > LINES // 2


@pytest.mark.parametrize("text", [
    '{"nodes_examined": 123456789012345678901234567890}', '{"n": -9223372036854775809}', '{"n": 18446744073709551616}',
    '{"x": 1e400}', '{"x": NaN}', '{"x": -Infinity}', '{"x": 9007199254740993.0}', '{"x": 1e-400}', '{"x": 0.1}',
    '{"x": "\\ud800"}', '{"x": "\\u0000"}', '{"a": 1, "b": 2, "a": 3}', '{"x": ' + "[" * 3000 + "]" * 3000 + "}",
    '{"x": 1' + "0" * 5000 + "}", '{"x": 1,}', "[1] [2]", '"text"', '{"x": "\\ud83d\\ude00"}',
], ids=lambda text: text[:40])
def test_jsonl_row_reads_what_only_a_json_file_can_hold_as_the_stdlib_does(text: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert typed(jsonl_row(3, text)) == typed(stdlib_row(3, text, monkeypatch))


def test_the_import_check_gives_what_parse_record_alone_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = random_lines(19)

    def check() -> list[rows.Checked]:
        return rows.check_patients([jsonl_row(n, text) for n, text in enumerate(lines, start=1)], BOOK.ids,
                                   date(2026, 12, 1), "patients.jsonl")

    checked = check()
    monkeypatch.setattr(rows, "quick_record", lambda raw, guidelines: None)
    assert checked == check()
    stored = sum(values is not None for _, values, *_ in checked)
    assert LINES // 5 < stored < len(lines)  # stored rows and quarantined ones: both are compared
