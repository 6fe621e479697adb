"""`netflow import` fed hostile files: wrong types, missing and extra columns, huge fields, wrong
encodings and byte-order marks, empty files, garbage bytes, 10,000-row files with scattered bad rows.

Never a crash: no exception leaves the command. A file that cannot be read as a whole (UTF-16, a CSV
without a usable header) is exit status 2 and one clear message, and nothing is imported from it;
otherwise exit status 0 and every row is accounted for: inserted + updated + unchanged +
quarantined == read, and read is every non-blank line (every data row of a well-formed CSV).

Hypothesis runs a modest number of examples here; `NETFLOW_FUZZ_EXAMPLES=2000` runs many more.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from psycopg import sql
from sqlalchemy import Engine, delete, func, select

from netflow.adapters.db import make_engine, upgrade
from netflow.adapters.patients import PatientStore
from netflow.adapters.tables import patients, quarantine
from netflow.cli import main
from netflow.imports.formats import PATIENT_COLUMNS, open_source
from netflow.imports.rows import import_source
from tests.support.db import _admin, _create_database, postgres_available
from tests.support.files import csv_text
from tests.support.records import record

EXAMPLES = int(os.environ.get("NETFLOW_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(max_examples=EXAMPLES or 40, deadline=None, derandomize=EXAMPLES is None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SUMMARY = re.compile(r"^(?P<file>\S+): (?P<read>\d+) read, (?P<inserted>\d+) inserted, (?P<updated>\d+) updated, "
                     r"(?P<unchanged>\d+) unchanged, (?P<quarantined>\d+) quarantined$")
MB = 1024 * 1024


@pytest.fixture(scope="module")
def fuzz_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One upgraded SQLite database for every example of a module (imports upsert: counts still add up)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'netflow.db'}"
    upgrade(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETFLOW_DATABASE_URL", url)
        yield url


def import_file(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, int], str]:
    """Run `netflow import PATH` in this process; any exception fails the test with its traceback."""
    capsys.readouterr()
    status = main(["import", str(path)])
    out, err = capsys.readouterr()
    if status != 0:
        return status, {}, err
    match = SUMMARY.match(out.strip().splitlines()[-1])
    assert match is not None, out
    counts = {k: int(v) for k, v in match.groupdict().items() if k != "file"}
    return status, counts, err


def assert_accounted(counts: dict[str, int], read: int | None = None) -> None:
    assert counts["inserted"] + counts["updated"] + counts["unchanged"] + counts["quarantined"] == counts["read"]
    if read is not None:
        assert counts["read"] == read


def assert_one_clear_error(status: int, err: str) -> None:
    assert status == 2
    assert err.startswith("netflow import: error: ") and "Traceback" not in err
    assert err.rstrip().endswith("nothing was imported")


# --- what a row can be ------------------------------------------------------------------------------

wrong_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.sampled_from(["2026-02-30", "1960-6-1", "'; DROP TABLE patients; --", "\u0000", "\ud800", "x" * 70]),
)
fields = st.sampled_from([*PATIENT_COLUMNS, "imaging"])


def valid_record(n: int) -> dict[str, Any]:
    return record(patient_id=f"FZ{n:05d}", name=f"Fuzz Person {n}")


@st.composite
def json_rows(draw: st.DrawFn, n: int) -> bytes:
    """One line of a JSON Lines file: a valid record, a damaged one, or no record at all."""
    kind = draw(st.sampled_from(["valid", "wrong-type", "missing", "extra", "not-an-object", "garbage-text",
                                 "garbage-bytes", "latin-1", "bom", "deep", "escape", "big-number"]))
    row = valid_record(n)
    if kind == "wrong-type":
        for name in draw(st.lists(fields, min_size=1, max_size=4)):
            row[name] = draw(wrong_values)
    elif kind == "missing":
        for name in draw(st.lists(fields, min_size=1, max_size=5)):
            row.pop(name, None)
    elif kind == "extra":
        row.update(draw(st.dictionaries(st.text(min_size=1, max_size=8), wrong_values, min_size=1, max_size=3)))
    elif kind == "not-an-object":
        return json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text()))).encode()
    elif kind == "garbage-text":
        return draw(st.text(min_size=1, max_size=60)).encode("utf-8", "surrogatepass")
    elif kind == "garbage-bytes":
        return draw(st.binary(min_size=1, max_size=60))
    elif kind == "latin-1":
        row["name"] = "Zoë Ångström-Müller"
        return json.dumps(row, ensure_ascii=False).encode("latin-1")
    elif kind == "bom":
        return b"\xef\xbb\xbf" + json.dumps(row).encode()
    elif kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=200_000))
        return b"[" * depth + b"]" * depth
    elif kind == "escape":
        row[draw(st.sampled_from(["name", "patient_id", "care_team"]))] = draw(st.sampled_from(
            ["a\u0000b", "\ud800", "x\udfffy", "\U0001f600 ok"]))
    elif kind == "big-number":
        row[draw(st.sampled_from(["nodes_positive", "nodes_examined", "grade", "ki67_percent"]))] = draw(
            st.sampled_from([2**31, 2**63, 10**30, -(2**63) - 1, 1e308]))
    return json.dumps(row).encode()


def lines_read(data: bytes) -> int:
    """What the importer counts as rows: the lines that are not blank."""
    lines = data.split(b"\n")
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]
    return sum(1 for line in lines if line.decode("utf-8", "replace").strip())


def refused_as_a_whole(data: bytes) -> bool:
    """Files the importer refuses outright: they start like UTF-16 or UTF-32 text."""
    return data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:2]


def rows_file(rows: list[bytes]) -> bytes:
    return b"\n".join(row.replace(b"\n", b" ") for row in rows) + b"\n"


@FUZZ
@given(data=st.data(), size=st.integers(min_value=0, max_value=25))
def test_a_jsonl_file_of_any_damaged_rows_imports_every_row_or_quarantines_it(
        fuzz_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], data: st.DataObject, size: int) -> None:
    content = rows_file([data.draw(json_rows(n)) for n in range(size)])
    path = tmp_path / "patients.jsonl"
    path.write_bytes(content)

    status, counts, err = import_file(path, capsys)

    if refused_as_a_whole(content):
        assert_one_clear_error(status, err)
    else:
        assert status == 0, err
        assert_accounted(counts, read=lines_read(content))


# --- CSV --------------------------------------------------------------------------------------------

cells = st.one_of(st.text(max_size=20), st.sampled_from(["", " ", "1_000", "1e400", "nan", "-0", "2**31",
                                                         "99999999999999999999", "'; DROP TABLE x; --",
                                                         '"', "a,b", "line\nbreak", "\x00", "\ufeff"]))


@FUZZ
@given(data=st.data(), columns=st.lists(st.sampled_from(PATIENT_COLUMNS[1:]), unique=True, max_size=8),
       size=st.integers(min_value=0, max_value=20))
def test_a_well_formed_csv_with_any_cells_accounts_for_every_data_row(
        fuzz_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], data: st.DataObject,
        columns: list[str], size: int) -> None:
    header = ["patient_id", *columns]
    rows = [data.draw(st.lists(cells, min_size=max(0, len(header) - 2), max_size=len(header) + 2)) for _ in range(size)]
    rows = [row for row in rows if row]  # a row without cells is a blank line, and blank lines are skipped
    path = tmp_path / "patients.csv"
    path.write_text(csv_text(header, rows), encoding="utf-8")

    status, counts, err = import_file(path, capsys)

    assert status == 0, err
    assert_accounted(counts, read=len(rows))


@FUZZ
@given(header=st.lists(st.text(max_size=12), max_size=6), body=st.binary(max_size=400))
def test_a_csv_of_any_bytes_is_refused_with_one_line_or_imported_with_every_row_accounted_for(
        fuzz_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], header: list[str], body: bytes) -> None:
    path = tmp_path / "imaging.csv"
    path.write_bytes(",".join(header).encode("utf-8", "surrogatepass") + b"\n" + body)

    status, counts, err = import_file(path, capsys)

    if status == 2:
        assert_one_clear_error(status, err)
    else:
        assert status == 0, err
        assert_accounted(counts)


# --- whole files that are wrong -------------------------------------------------------------------


def good_jsonl(count: int, start: int = 0) -> str:
    return "".join(json.dumps(valid_record(n)) + "\n" for n in range(start, start + count))


@pytest.mark.parametrize(("encoding", "suffix"), [
    ("utf-16", ".jsonl"), ("utf-16-le", ".jsonl"), ("utf-16-be", ".csv"), ("utf-32", ".csv"), ("utf-16", ".csv"),
])
def test_a_utf16_or_utf32_file_is_refused_whole_with_what_to_do(
        fuzz_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str, suffix: str) -> None:
    path = tmp_path / f"export{suffix}"
    text = good_jsonl(3) if suffix == ".jsonl" else csv_text(["patient_id", "name"], [["FZ1", "A B"]])
    path.write_bytes(text.encode(encoding))

    status, _, err = import_file(path, capsys)

    assert_one_clear_error(status, err)
    assert "not UTF-8: save it as UTF-8" in err and "\x00" not in err


@pytest.mark.parametrize(("name", "content", "read"), [
    ("empty.jsonl", b"", 0),
    ("blank.jsonl", b"\n \n\t\n", 0),
    ("bom-only.jsonl", b"\xef\xbb\xbf", 0),
    ("bom.jsonl", b"\xef\xbb\xbf" + good_jsonl(2).encode(), 2),
    ("bom.csv", b"\xef\xbb\xbfpatient_id,name\nFZ7,A B\n", 1),
    ("header-only.csv", b"patient_id,name\n", 0),
    ("crlf.csv", b"patient_id,name\r\nFZ8,A B\r\nFZ9,C D\r\n", 2),
])
def test_empty_files_and_byte_order_marks_are_read_for_what_they_hold(
        fuzz_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes,
        read: int) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    status, counts, err = import_file(path, capsys)

    assert status == 0, err
    assert_accounted(counts, read=read)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"name,birth_date\nA B,1960-01-01\n", "no patient_id column"),
    (b"patient_id,colour\nFZ1,red\n", "unknown column(s) colour"),
    (b"patient_id,name,name\nFZ1,A,B\n", "appear more than once"),
], ids=["empty", "missing-column", "extra-column", "duplicate-column"])
def test_a_csv_whose_header_is_unusable_is_refused_whole_naming_the_problem(
        fuzz_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str) -> None:
    path = tmp_path / "patients.csv"
    path.write_bytes(content)

    status, _, err = import_file(path, capsys)

    assert_one_clear_error(status, err)
    assert message in err


def stored_name(url: str, patient_id: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(patients.c.name).where(patients.c.patient_id == patient_id)).scalar()
    finally:
        engine.dispose()


def quarantined_fields(url: str, source: str) -> list[tuple[list[str], int]]:
    """Each quarantined row of `source`: the fields its errors name, and the length of the raw row kept."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(select(quarantine.c.errors, quarantine.c.raw).where(quarantine.c.source == source)
                                 .order_by(quarantine.c.line_no)).all()
    finally:
        engine.dispose()
    return [([e["field"] for e in json.loads(errors)], len(raw)) for errors, raw in found]


def test_a_1_mb_field_is_read_in_jsonl_and_csv_quarantined_whole_and_the_rows_after_it_are_still_read(
        fuzz_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 1 MB cell is read (CSV fields up to 16 MiB); a 1 MB name is over the import's 200-character limit,
    so its row is quarantined naming the field, with the whole raw row kept."""
    huge = "N" * MB
    jsonl = tmp_path / "huge.jsonl"
    jsonl.write_text(good_jsonl(2, 100) + json.dumps(record(patient_id="FZHUGE1", name=huge)) + "\n"
                     + json.dumps(record(patient_id="x" * MB)) + "\n" + "{" * MB + "\n" + good_jsonl(2, 110),
                     encoding="utf-8")
    columns = ["patient_id", "name", "birth_date", "care_team", "primary_site", "resection_date"]
    rows = [[f"FZC{n}", "A B", "1960-01-01", "gi-onc-east", "pancreas", "2022-01-01"] for n in range(4)]
    rows[1][1] = huge
    rows[2][3] = huge  # a 1 MB care team: not a valid key
    table = tmp_path / "huge.csv"
    table.write_text(csv_text(columns, rows), encoding="utf-8")

    jsonl_status, from_jsonl, _ = import_file(jsonl, capsys)
    csv_status, from_csv, _ = import_file(table, capsys)

    assert (jsonl_status, csv_status) == (0, 0)
    assert_accounted(from_jsonl, read=7)
    assert from_jsonl["quarantined"] == 3
    assert_accounted(from_csv, read=4)
    assert from_csv["quarantined"] == 2
    assert stored_name(fuzz_url, "FZHUGE1") is None and stored_name(fuzz_url, "FZC1") is None
    assert stored_name(fuzz_url, "FZ00111") == "Fuzz Person 111" and stored_name(fuzz_url, "FZC3") == "A B"
    named = [length for fields, length in quarantined_fields(fuzz_url, "huge.jsonl") if fields == ["name"]]
    assert len(named) == 1 and named[0] > MB
    assert [fields for fields, _ in quarantined_fields(fuzz_url, "huge.csv")] == [["name"], ["care_team"]]


def bad_row(position: int) -> bytes:
    """A different bad row for each position (the quarantine keeps identical content once)."""
    mrn = f"FZBAD{position:05d}"
    return [
        f"not json {position}".encode(),
        b"\xff\xfe garbage " + mrn.encode(),
        json.dumps(record(patient_id=mrn, grade=9)).encode(),
        b"[" * 5000 + mrn.encode(),
        json.dumps(record(patient_id=mrn, nodes_positive=10**20)).encode(),
        json.dumps(record(patient_id=mrn, name="a\u0000b")).encode(),
        json.dumps({"patient_id": mrn}).encode(),
        json.dumps([position, 2]).encode(),
    ][position % 8]


def test_ten_thousand_rows_with_scattered_bad_rows_are_all_accounted_for(
        fuzz_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.dumps(valid_record(20_000 + n)).encode() for n in range(10_000)]
    positions = range(37, 10_000, 97)
    for position in positions:
        lines[position] = bad_row(position)
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    status, counts, err = import_file(path, capsys)

    assert status == 0, err
    assert_accounted(counts, read=10_000)
    assert counts["quarantined"] == len(positions) and counts["inserted"] == 10_000 - len(positions)
    engine = make_engine(fuzz_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(quarantine).where(
                quarantine.c.source == "big.jsonl")).scalar_one() == len(positions)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def fuzz_postgres_url() -> Iterator[str]:
    """One upgraded PostgreSQL database for every example, dropped afterwards."""
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (start it, see README)")
    name = f"netflow_fuzz_{uuid.uuid4().hex[:12]}"
    _create_database(name)
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.postgres
@settings(FUZZ, max_examples=(EXAMPLES or 40) // 2)
@given(data=st.data(), size=st.integers(min_value=1, max_value=15))
def test_on_postgresql_no_damaged_row_reaches_the_database_as_an_error(
        fuzz_postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], data: st.DataObject,
        size: int) -> None:
    """PostgreSQL refuses what SQLite stores (NUL in text, integers past 32 bits): validation must catch it."""
    content = rows_file([data.draw(json_rows(n)) for n in range(size)])
    path = tmp_path / "patients.jsonl"
    path.write_bytes(content)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETFLOW_DATABASE_URL", fuzz_postgres_url)
        status, counts, err = import_file(path, capsys)

    if refused_as_a_whole(content):
        assert_one_clear_error(status, err)
    else:
        assert status == 0, err
        assert_accounted(counts, read=lines_read(content))


# --- worker processes -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Engine]]:
    """Two upgraded SQLite databases: one imports with one worker, the other with two."""
    engines = []
    for name in ("one", "two"):
        url = f"sqlite:///{tmp_path_factory.mktemp('workers') / name}.db"
        upgrade(url)
        engines.append(make_engine(url))
    yield engines
    for engine in engines:
        engine.dispose()


@settings(FUZZ, max_examples=(EXAMPLES or 40) // 2)
@given(data=st.data(), size=st.integers(min_value=2, max_value=25))
def test_one_or_two_workers_store_and_quarantine_any_damaged_rows_alike(
        two_engines: list[Engine], tmp_path: Path, data: st.DataObject, size: int) -> None:
    content = rows_file([data.draw(json_rows(n)) for n in range(size)])
    assume(not refused_as_a_whole(content))
    path = tmp_path / "patients.jsonl"
    path.write_bytes(content)
    outcomes = []
    for workers, engine in zip((1, 2), two_engines, strict=True):
        with engine.begin() as conn:
            conn.execute(delete(patients))
            conn.execute(delete(quarantine))
        counts = import_source(PatientStore(engine), open_source(path), ("nccn",), chunk_size=3, workers=workers,
                               clock=lambda: datetime(2026, 5, 4, tzinfo=UTC))
        with engine.connect() as conn:
            stored = conn.execute(select(patients.c.patient_id, patients.c.record_hash)
                                  .order_by(patients.c.patient_id)).all()
            held = conn.execute(select(quarantine.c.line_no, quarantine.c.record_key, quarantine.c.errors,
                                       quarantine.c.raw, quarantine.c.resolved_at).order_by(quarantine.c.id)).all()
        outcomes.append((counts, stored, held))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0].read == lines_read(content)
