"""`netflow import` and `netflow teams load` as a person runs them: counts, errors, nothing half-loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from netflow.adapters.db import make_engine, upgrade
from netflow.adapters.patients import PatientStore
from netflow.cli import main
from tests.integration.test_import import cohort, stored, write_csv, write_jsonl
from tests.support.records import record


@pytest.fixture
def cli_url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    upgrade(database_url)
    monkeypatch.setenv("NETFLOW_DATABASE_URL", database_url)
    return database_url


def test_the_import_command_prints_counts_per_file_and_in_total_without_patient_data(
        cli_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    people = write_jsonl(tmp_path / "patients.jsonl", [*cohort(), record(patient_id="BAD", grade=9)])
    imaging = write_csv(tmp_path / "imaging.csv", ["patient_id", "date", "modality"], [["A2", "2024-05-01", "MRI"]])
    assert main(["import", str(people), str(imaging)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "patients.jsonl: 4 read, 3 inserted, 0 updated, 0 unchanged, 1 quarantined",
        "imaging.csv: 1 read, 1 inserted, 0 updated, 0 unchanged, 0 quarantined",
        "total: 5 read, 4 inserted, 0 updated, 0 unchanged, 1 quarantined",
    ]
    assert captured.err == ""  # no progress bar when standard error is not a terminal
    assert "Ångström" not in captured.out + captured.err and "BAD" not in captured.out + captured.err


@pytest.mark.parametrize(("name", "content", "message"), [
    ("patients.txt", "x", "cannot tell what patients.txt holds"),
    ("patients.csv", "patient_id,colour\nP1,red\n", "unknown column(s) colour"),
    ("patients.csv", "", "is empty"),
    ("missing.jsonl", None, "no such file"),
], ids=["extension", "unknown-column", "empty-csv", "missing"])
def test_a_file_that_cannot_be_imported_is_a_usage_error_and_nothing_is_imported(
        cli_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | None,
        message: str) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", cohort())
    if content is not None:
        (tmp_path / name).write_text(content, encoding="utf-8")
    assert main(["import", str(good), str(tmp_path / name)]) == 2
    assert message in capsys.readouterr().err
    engine = make_engine(cli_url)
    try:
        assert stored(engine) == {}
    finally:
        engine.dispose()


def test_teams_load_replaces_each_listed_teams_members(cli_url: str, tmp_path: Path) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text("t1:\n  name: One\n  navigators: [a@hospital.example]\n  leads: [l@hospital.example]\n"
                    "t2:\n  name: Two\n  guideline: consensus2018\n  navigators: [b@hospital.example]\n",
                    encoding="utf-8")
    assert main(["teams", "load", str(path)]) == 0
    path.write_text("t1:\n  name: One again\n  navigators: [c@hospital.example]\n", encoding="utf-8")
    assert main(["teams", "load", str(path)]) == 0
    engine = make_engine(cli_url)
    try:
        teams = PatientStore(engine).care_teams()
    finally:
        engine.dispose()
    assert teams["t1"].name == "One again" and teams["t1"].navigators == ("c@hospital.example",)
    assert teams["t1"].leads == ()
    assert teams["t2"].guideline == "consensus2018" and teams["t2"].navigators == ("b@hospital.example",)


def test_a_bad_teams_file_loads_nothing_and_names_the_team(cli_url: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text("ok:\n  name: OK\n  navigators: [a@hospital.example]\n"
                    "broken:\n  name: Broken\n  navigators: ['x@hospital.example\\r\\nBcc: y@evil.example']\n",
                    encoding="utf-8")
    assert main(["teams", "load", str(path)]) == 2
    err = capsys.readouterr().err
    assert "team 'broken', navigators" in err and "nothing was loaded" in err
    engine = make_engine(cli_url)
    try:
        assert PatientStore(engine).care_teams() == {}
    finally:
        engine.dispose()


def test_a_folder_imports_its_import_files_by_name_and_says_which(
        cli_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "exports"
    (folder / "nested").mkdir(parents=True)
    write_jsonl(folder / "b-patients.jsonl", cohort()[:2])
    write_csv(folder / "c-imaging.CSV", ["patient_id", "date", "modality"], [["A2", "2024-05-01", "MRI"]])
    write_jsonl(folder / "a-more.ndjson", cohort()[2:])
    write_jsonl(folder / ".hidden.jsonl", [record(patient_id="HIDDEN")])
    write_jsonl(folder / "late.jsonl.part", [record(patient_id="PART")])
    write_jsonl(folder / "late.jsonl.tmp", [record(patient_id="TMP")])
    write_jsonl(folder / "nested" / "deep.jsonl", [record(patient_id="DEEP")])
    (folder / "notes.txt").write_text("not an export\n", encoding="utf-8")

    assert main(["import", str(folder)]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"{folder}: 3 file(s) to import: a-more.ndjson, b-patients.jsonl, c-imaging.CSV (skipped: notes.txt)",
        "a-more.ndjson: 1 read, 1 inserted, 0 updated, 0 unchanged, 0 quarantined",
        "b-patients.jsonl: 2 read, 2 inserted, 0 updated, 0 unchanged, 0 quarantined",
        "c-imaging.CSV: 1 read, 1 inserted, 0 updated, 0 unchanged, 0 quarantined",
        "total: 4 read, 4 inserted, 0 updated, 0 unchanged, 0 quarantined",
    ]
    engine = make_engine(cli_url)
    try:
        assert sorted(stored(engine)) == ["A1", "A2", "A3"]
    finally:
        engine.dispose()


def test_a_folder_without_import_files_is_a_one_line_usage_error(
        cli_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    write_jsonl(folder / "half.jsonl.part", [record(patient_id="PART")])
    good = write_jsonl(tmp_path / "good.jsonl", cohort())

    assert main(["import", str(good), str(folder)]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"netflow import: error: the folder {folder} holds no .jsonl, .ndjson or .csv file; nothing was imported"]
    engine = make_engine(cli_url)
    try:
        assert stored(engine) == {}
    finally:
        engine.dispose()
