"""Bounded input: unknown fields are errors, one open file per import, limits on size and dates, no future
as-of date by mistake. No command ends in a traceback on any of these inputs.

- a JSON Lines field the record does not have is quarantined, named, with the nearest known name;
- a CSV header is checked in linear time and its error lists at most 10 columns;
- a file replaced or changed while it is read is refused whole, never read with another file's columns;
- a name over 200 characters, a date before 1900 or more than a year ahead is quarantined naming the field;
- `--as-of` after tomorrow needs `--allow-future` (the DAGs: `allow_future`); past 9899-12-31 never.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select

import netflow_airflow as glue
from netflow.adapters.patients import PatientStore
from netflow.adapters.tables import patients, quarantine
from netflow.cli import UsageError, main
from netflow.cli.common import check_as_of_option
from netflow.config import ConfigError, Settings
from netflow.errors import InputError
from netflow.imports.formats import SourceChanged, SourceError, open_source
from netflow.imports.rows import ImportCounts, import_source
from netflow.installation import Installation
from netflow.services.daily import LATEST_AS_OF, settle_as_of, tomorrow
from netflow.services.imports import import_inbox_file
from tests.support.files import csv_text
from tests.support.records import record, scan

GUIDELINES = ("nccn", "consensus2018")
TODAY = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
MB = 1024 * 1024


def clock() -> datetime:
    return TODAY


def load(engine: Engine, path: Path, chunk_size: int = 2000, **kwargs: Any) -> ImportCounts:
    return import_source(PatientStore(engine), open_source(path), GUIDELINES, chunk_size=chunk_size, clock=clock,
                         **kwargs)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def quarantined(engine: Engine) -> list[list[dict[str, str]]]:
    with engine.connect() as conn:
        return [json.loads(errors) for errors in
                conn.execute(select(quarantine.c.errors).order_by(quarantine.c.line_no)).scalars()]


def stored(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r.patient_id: dict(r._mapping) for r in conn.execute(select(patients))}


@pytest.fixture
def cli_db(sqlite_url: str, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """`netflow` run in this process against an upgraded SQLite database."""
    monkeypatch.setenv("NETFLOW_DATABASE_URL", sqlite_url)
    return sqlite_engine


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`netflow ARGV` in this process: any exception other than netflow's own fails the test."""
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line(err: str, command: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"netflow {command}: error: ")
    return lines[0]


# --- unknown fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "meant"), [("hereditary_syndrom", "hereditary_syndrome"),
                                              ("differentation", "differentiation"),
                                              ("Patient_ID", "patient_id")])
def test_an_unknown_jsonl_field_is_quarantined_naming_it_and_the_field_meant(
        sqlite_engine: Engine, tmp_path: Path, field: str, meant: str) -> None:
    row = record(patient_id="U1")
    row[field] = "MEN1" if field == "hereditary_syndrom" else "poor"
    counts = load(sqlite_engine, write_jsonl(tmp_path / "p.jsonl", [row]))

    assert counts == ImportCounts(read=1, quarantined=1)
    assert quarantined(sqlite_engine) == [[{"field": field,
                                            "message": f"unknown field `{field}`; did you mean `{meant}`?"}]]


def test_an_unknown_key_in_an_imaging_entry_is_named_with_its_index(sqlite_engine: Engine, tmp_path: Path) -> None:
    typo = {"date": "2024-01-10", "modality": "CT", "modalty": "MRI"}
    row = record(patient_id="U2", imaging=[scan("2023-01-10"), typo])
    load(sqlite_engine, write_jsonl(tmp_path / "p.jsonl", [row]))

    assert quarantined(sqlite_engine) == [[{"field": "imaging[1].modalty",
                                            "message": "unknown field `imaging[1].modalty`; did you mean "
                                                       "`imaging[1].modality`?"}]]


def test_unknown_fields_are_listed_up_to_ten_then_counted(sqlite_engine: Engine, tmp_path: Path) -> None:
    row = record(patient_id="U3", **{f"zz{n:04d}": n for n in range(2500)}, ward="x" * MB)
    load(sqlite_engine, write_jsonl(tmp_path / "p.jsonl", [row]))

    [errors] = quarantined(sqlite_engine)
    assert [e["field"] for e in errors[:10]] == [f"zz{n:04d}" for n in range(10)]
    assert errors[10:] == [{"field": "record", "message": "and 2491 more unknown fields"}]
    assert all(e["message"] == f"unknown field `{e['field']}`" for e in errors[:10])


def test_a_long_unknown_field_name_is_shown_cut_and_a_known_field_is_still_checked(
        sqlite_engine: Engine, tmp_path: Path) -> None:
    row = record(patient_id="U4", grade=9, **{"\x1b[31m" + "k" * 5000: 1})
    load(sqlite_engine, write_jsonl(tmp_path / "p.jsonl", [row]))

    [errors] = quarantined(sqlite_engine)
    assert errors[0]["field"] == "grade"
    assert errors[1]["field"].startswith("\\u001b[31mkkk") and len(errors[1]["field"]) <= 40
    assert len(errors[1]["message"]) < 120


def test_the_engine_still_ignores_extra_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(hereditary_syndrom="MEN1")])
    status, out, err = run(capsys, "evaluate", str(path), "--as-of", "2026-12-01")
    assert status == 0, err
    assert json.loads(out)["status"] != "invalid"


# --- CSV headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("columns", "problem", "more"), [
    (["patient_id", *(f"extra_{n}" for n in range(40_000))], "unknown column(s) extra_0, extra_1", "and 39990 more"),
    (["patient_id", *(f"c{n % 20_000}" for n in range(40_000))], "appear more than once", "and 19990 more"),
], ids=["unknown", "duplicate"])
def test_a_40000_column_header_is_refused_at_once_with_a_capped_message(
        cli_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], columns: list[str], problem: str,
        more: str) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(columns) + "\n" + ",".join("x" for _ in columns) + "\n", encoding="utf-8")

    started = time.perf_counter()
    status, _, err = run(capsys, "import", str(path))
    elapsed = time.perf_counter() - started

    assert status == 2 and elapsed < 1.0
    line = assert_one_line(err, "import")
    assert problem in line and more in line and len(line) < 1000


def test_a_header_line_over_1_mib_is_refused_without_reading_it_whole(
        cli_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"patient_id," + b"n" * (64 * MB))

    status, _, err = run(capsys, "import", str(path))

    assert status == 2
    assert "the header is longer than 1024 KiB" in assert_one_line(err, "import")


# --- one open file -----------------------------------------------------------------------------------

COLUMNS = ["patient_id", "name", "birth_date", "care_team", "primary_site", "resection_date"]
SWAPPED = ["patient_id", "care_team", "resection_date", "name", "primary_site", "birth_date"]


def patients_csv(header: list[str], ids: range) -> str:
    values = {"name": "A B", "birth_date": "1960-01-01", "care_team": "gi-onc-east", "primary_site": "pancreas",
              "resection_date": "2022-01-01"}
    return csv_text(header, [[f"R{n}" if c == "patient_id" else values[c] for c in header] for n in ids])


def assert_never_the_old_mapping(engine: Engine) -> None:
    for row in stored(engine).values():
        assert (row["name"], row["care_team"]) == ("A B", "gi-onc-east")


def test_a_csv_replaced_by_mv_after_it_was_opened_is_refused_whole(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(patients_csv(COLUMNS, range(3)), encoding="utf-8")
    source = open_source(path)
    replacement = tmp_path / "patients.csv.new"
    replacement.write_text(patients_csv(SWAPPED, range(3, 6)), encoding="utf-8")
    os.replace(replacement, path)

    with pytest.raises(SourceChanged, match=re.escape("patients.csv changed while it was read: import it again once "
                                                      "it is complete; nothing was imported")):
        import_source(PatientStore(sqlite_engine), source, GUIDELINES, clock=clock)

    assert stored(sqlite_engine) == {} and quarantined(sqlite_engine) == []
    assert load(sqlite_engine, path) == ImportCounts(read=3, inserted=3)  # imported again: the new file, whole
    assert sorted(stored(sqlite_engine)) == ["R3", "R4", "R5"]
    assert_never_the_old_mapping(sqlite_engine)


def test_a_csv_rewritten_in_place_with_another_header_is_refused_whole(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(patients_csv(COLUMNS, range(3)), encoding="utf-8")
    source = open_source(path)
    stat = path.stat()
    path.write_text(patients_csv(SWAPPED, range(3)), encoding="utf-8")  # same inode, same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))             # and the old modification time

    with pytest.raises(SourceChanged, match="changed while it was read"):
        import_source(PatientStore(sqlite_engine), source, GUIDELINES, clock=clock)

    assert stored(sqlite_engine) == {}


def test_a_checked_and_closed_file_is_refused_if_it_is_no_longer_the_same(sqlite_engine: Engine,
                                                                          tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(patient_id="C1")])
    with open_source(path) as source:
        pass
    write_jsonl(tmp_path / "p.jsonl", [record(patient_id="C1"), record(patient_id="C2")])

    with pytest.raises(SourceChanged, match="nothing was imported"):
        import_source(PatientStore(sqlite_engine), source, GUIDELINES, clock=clock)

    with open_source(path) as same:
        pass
    assert import_source(PatientStore(sqlite_engine), same, GUIDELINES, clock=clock) == ImportCounts(2, 2)


def test_a_file_appended_to_mid_import_is_refused_and_the_committed_chunks_stay(
        sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(patient_id=f"G{n}") for n in range(6)])

    def append(rows: int) -> None:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record(patient_id="LATE")) + "\n")

    with pytest.raises(SourceChanged, match="the 2 rows of the chunks committed before stay imported"):
        load(sqlite_engine, path, chunk_size=2, on_rows=append)

    assert sorted(stored(sqlite_engine)) == ["G0", "G1"]


def test_a_file_that_changed_is_one_line_from_the_command(cli_db: Engine, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(patient_id="K1")])
    real = import_source

    def replaced_first(*args: Any, **kwargs: Any) -> ImportCounts:
        write_jsonl(path.with_suffix(".new"), [record(patient_id="K2")])
        os.replace(path.with_suffix(".new"), path)
        return real(*args, **kwargs)

    monkeypatch.setattr("netflow.services.imports.import_source", replaced_first)
    status, _, err = run(capsys, "import", str(path))

    assert status == 2
    assert "p.jsonl changed while it was read" in assert_one_line(err, "import")


def test_the_import_dag_moves_a_file_that_changed_mid_import_to_failed_saying_why(
        sqlite_url: str, sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = write_jsonl(inbox / "p.jsonl", [record(patient_id="B1")])
    real = import_source

    def appended_first(*args: Any, **kwargs: Any) -> ImportCounts:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record(patient_id="B2")) + "\n")
        return real(*args, **kwargs)

    monkeypatch.setattr("netflow.services.imports.import_source", appended_first)
    with Installation.from_settings(Settings(database_url=sqlite_url, inbox=inbox)) as inst:
        done = import_inbox_file(inst, "p.jsonl")

    assert done["status"] == "failed" and "p.jsonl changed while it was read" in done["error"]
    [moved] = (inbox / "failed").glob("*-p.jsonl")
    assert "import it again once it is complete" in moved.with_name(moved.name + ".error.txt").read_text()
    assert stored(sqlite_engine) == {}


def test_a_directory_or_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "absent.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(SourceError, match=r"cannot read dir\.csv"):
        open_source(tmp_path / "dir.csv")


# --- limits on import --------------------------------------------------------------------------------


def test_a_5_mb_name_is_quarantined_naming_it(cli_db: Engine, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(patient_id="N1", name="N" * (5 * MB)),
                                              record(patient_id="N2", name="n" * 200)])
    status, out, err = run(capsys, "import", str(path))

    assert status == 0, err
    assert out.strip().endswith("2 read, 1 inserted, 0 updated, 0 unchanged, 1 quarantined")
    assert quarantined(cli_db) == [[{"field": "name", "message": f"must be at most 200 characters, got {5 * MB}"}]]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"birth_date": "1850-04-01"}, "birth_date", "must be on or after 1900-01-01"),
    ({"resection_date": "9999-01-01"}, "resection_date", "on or before 2027-12-07"),
    ({"resection_date": "2027-12-08"}, "resection_date", "must be at most a year after the import"),
    ({"imaging": [scan("2023-01-10"), scan("1899-12-31")]}, "imaging[1].date", "must be on or after 1900-01-01"),
    ({"imaging": [scan("9999-01-01")]}, "imaging[0].date", "on or before 2027-12-07"),
])
def test_an_implausible_date_is_quarantined_naming_the_field(sqlite_engine: Engine, tmp_path: Path,
                                                             changes: dict[str, Any], field: str,
                                                             message: str) -> None:
    load(sqlite_engine, write_jsonl(tmp_path / "p.jsonl", [record(patient_id="D1", **changes)]))

    [errors] = quarantined(sqlite_engine)
    assert [e["field"] for e in errors if e["field"] == field] == [field]
    assert message in next(e["message"] for e in errors if e["field"] == field)


def test_dates_at_the_limits_are_imported(sqlite_engine: Engine, tmp_path: Path) -> None:
    row = record(patient_id="D2", birth_date="1900-01-01", resection_date="2027-12-07",
                 imaging=[scan("1900-01-01"), scan("2027-12-07")])
    assert load(sqlite_engine, write_jsonl(tmp_path / "p.jsonl", [row])) == ImportCounts(read=1, inserted=1)


def test_an_imaging_csv_date_out_of_range_is_quarantined(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "imaging.csv"
    rows = [["I1", "9999-01-01", "CT"], ["I1", "1850-01-01", "MRI"], ["I1", "2024-01-01", "CT"]]
    path.write_text(csv_text(["patient_id", "date", "modality"], rows), encoding="utf-8")
    assert load(sqlite_engine, path) == ImportCounts(read=3, inserted=1, quarantined=2)
    assert [[e["field"] for e in errors] for errors in quarantined(sqlite_engine)] == [["date"], ["date"]]


# --- future as-of dates -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["remind"], ["report"], ["scan"], ["evaluate", "-"]])
def test_an_as_of_after_tomorrow_is_one_line_naming_allow_future(capsys: pytest.CaptureFixture[str],
                                                                 command: list[str]) -> None:
    status, out, err = run(capsys, *command, "--as-of", "2099-01-01")

    assert status == 2 and out == ""
    line = assert_one_line(err, command[0])
    assert "--as-of 2099-01-01 is in the future" in line and "--allow-future" in line


@pytest.mark.parametrize("command", [["scan"], ["remind", "--dry-run"], ["report", "--dry-run"], ["evaluate", "-"]])
def test_an_as_of_past_the_calendar_is_one_line_even_with_allow_future(capsys: pytest.CaptureFixture[str],
                                                                       command: list[str]) -> None:
    status, _, err = run(capsys, *command, "--as-of", "9999-12-31", "--allow-future")

    assert status == 2
    assert "as-of date too far in the future (the latest is 9899-12-31)" in assert_one_line(err, command[0])


def test_a_far_future_record_evaluates_on_the_latest_as_of_date(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(resection_date="9899-06-01", birth_date="9850-01-01")])
    status, out, err = run(capsys, "evaluate", str(path), "--as-of", LATEST_AS_OF.isoformat(), "--allow-future")
    assert status == 0, err
    assert json.loads(out)["status"] in ("due", "due_soon", "not_due", "overdue")


def as_of_args(as_of: str, allow_future: bool = False) -> Any:
    return SimpleNamespace(as_of=date.fromisoformat(as_of), allow_future=allow_future)


def test_tomorrow_is_counted_in_the_installation_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    late = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # already 8 December in Auckland
    monkeypatch.setenv("NETFLOW_TIMEZONE", "Pacific/Auckland")
    check_as_of_option(as_of_args("2026-12-09"), now=late)
    with pytest.raises(UsageError, match="after 2026-12-09"):
        check_as_of_option(as_of_args("2026-12-10"), now=late)
    check_as_of_option(as_of_args("2026-12-10", allow_future=True), now=late)
    monkeypatch.setenv("NETFLOW_TIMEZONE", "America/Los_Angeles")
    with pytest.raises(UsageError, match="after 2026-12-08"):
        check_as_of_option(as_of_args("2026-12-09"), now=late)


def test_a_bad_time_zone_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_TIMEZONE", "Mars/Olympus_Mons")
    status, _, err = run(capsys, "remind", "--as-of", "2026-12-01")
    assert status == 2
    assert "NETFLOW_TIMEZONE must be a time zone" in assert_one_line(err, "remind")
    with pytest.raises(ConfigError):
        tomorrow("../../etc/passwd")


def test_the_dag_as_of_param_refuses_the_future_unless_allow_future() -> None:
    run_date = date(2026, 12, 7)
    with pytest.raises(InputError, match=r"as_of 2099-01-01 is in the future .* give the param allow_future=true"):
        settle_as_of("2099-01-01", run_date, timezone="Europe/Oslo", now=TODAY)
    allowed = settle_as_of("2099-01-01", run_date, timezone="Europe/Oslo", allow_future=True, now=TODAY)
    assert allowed == date(2099, 1, 1)
    assert settle_as_of("2026-12-08", run_date, timezone="Europe/Oslo", now=TODAY) == date(2026, 12, 8)
    assert settle_as_of("", run_date, timezone="Europe/Oslo", now=TODAY) == run_date
    with pytest.raises(InputError, match="too far in the future"):
        settle_as_of("9999-12-31", run_date, allow_future=True, now=TODAY)


def glue_context(as_of: str, allow_future: bool | None) -> dict[str, Any]:
    params: dict[str, Any] = {"as_of": as_of}
    if allow_future is not None:
        params["allow_future"] = allow_future
    return {"params": params, "dag_run": SimpleNamespace(logical_date=None, run_after=datetime.now(UTC))}


@pytest.fixture
def config() -> Iterator[Settings]:
    yield Settings(database_url="sqlite://", timezone="Europe/Oslo")


def test_the_weekly_dag_as_of_follows_the_allow_future_param(config: Settings) -> None:
    with pytest.raises(InputError, match="allow_future"):
        glue.as_of(glue_context("2099-01-01", None), config)
    with pytest.raises(InputError, match="allow_future"):
        glue.as_of(glue_context("2099-01-01", False), config)
    assert glue.as_of(glue_context("2099-01-01", True), config) == date(2099, 1, 1)


@pytest.mark.parametrize(("changes", "field"), [({"care_team": "t" * 65}, "care_team"),
                                                ({"care_team": "gi-onc-east "}, "care_team"),
                                                ({"patient_id": " K9"}, "patient_id")])
def test_the_database_keys_are_64_characters_without_surrounding_spaces(
        sqlite_engine: Engine, tmp_path: Path, changes: dict[str, Any], field: str) -> None:
    load(sqlite_engine, write_jsonl(tmp_path / "p.jsonl", [record(**changes)]))

    assert quarantined(sqlite_engine) == [[{"field": field,
                                            "message": "must be 1-64 characters without surrounding spaces"}]]
