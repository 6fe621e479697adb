"""Importing patients and imaging: every row accounted for, upserts by patient_id, quarantine that heals."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from netflow.adapters.patients import PatientStore
from netflow.adapters.tables import imaging_studies, patients, quarantine, utcnow
from netflow.domain.record import parse_record
from netflow.imports.formats import PATIENT_COLUMNS, open_source
from netflow.imports.rows import ImportCounts, import_source
from tests.support.records import record, scan

GUIDELINES = ("nccn", "consensus2018")


def write_jsonl(path: Path, rows: list[Any], bom: bool = False) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[Any]], bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def patient_cells(raw: dict[str, Any]) -> list[Any]:
    return ["" if raw.get(c) is None else raw[c] for c in PATIENT_COLUMNS]


def load(engine: Engine, path: Path, chunk_size: int = 2000, **kwargs: Any) -> ImportCounts:
    counts = import_source(PatientStore(engine), open_source(path), GUIDELINES, chunk_size=chunk_size, **kwargs)
    assert counts.inserted + counts.updated + counts.unchanged + counts.quarantined == counts.read
    return counts


def rows(engine: Engine, table: Any, *order: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(*order or (table.c.id,)))]


def stored(engine: Engine) -> dict[str, dict[str, Any]]:
    return {r["patient_id"]: r for r in rows(engine, patients)}


def quarantined(engine: Engine) -> list[dict[str, Any]]:
    return rows(engine, quarantine)


def scans(engine: Engine) -> list[tuple[str, str, str]]:
    return [(r["patient_id"], r["date"].isoformat(), r["modality"]) for r in rows(engine, imaging_studies)]


def counts(read: int = 0, inserted: int = 0, updated: int = 0, unchanged: int = 0, quarantined: int = 0
           ) -> ImportCounts:
    return ImportCounts(read, inserted, updated, unchanged, quarantined)


def cohort() -> list[dict[str, Any]]:
    return [record(patient_id="A1", imaging=[scan("2023-01-10"), scan("2024-01-10", "MRI")]),
            record(patient_id="A2", primary_site="rectum", grade=1, ki67_percent=1.0),
            record(patient_id="A3", name="Zoë Ångström", tumor_size_mm=None, margin=None)]


# JSON Lines -----------------------------------------------------------------------------------

def test_a_jsonl_file_is_inserted_and_reimporting_it_changes_nothing(migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "patients.jsonl", cohort())
    assert load(migrated_engine, path) == counts(read=3, inserted=3)
    before = stored(migrated_engine)
    assert load(migrated_engine, path) == counts(read=3, unchanged=3)
    assert stored(migrated_engine) == before
    assert before["A3"]["name"] == "Zoë Ångström" and before["A3"]["tumor_size_mm"] is None
    assert scans(migrated_engine) == [("A1", "2023-01-10", "CT"), ("A1", "2024-01-10", "MRI")]


def test_stored_patients_carry_their_bucket_and_hash(migrated_engine: Engine, tmp_path: Path) -> None:
    load(migrated_engine, write_jsonl(tmp_path / "p.jsonl", cohort()))
    for row in stored(migrated_engine).values():
        assert 0 <= row["bucket"] < 1024 and len(row["record_hash"]) == 64
        assert row["created_at"] is not None and row["updated_at"] is not None


def test_a_changed_field_updates_the_patient(migrated_engine: Engine, tmp_path: Path) -> None:
    load(migrated_engine, write_jsonl(tmp_path / "p.jsonl", cohort()))
    changed = cohort()
    changed[1]["nodes_positive"] = 2
    assert load(migrated_engine, write_jsonl(tmp_path / "p2.jsonl", changed)) == counts(3, updated=1, unchanged=2)
    assert stored(migrated_engine)["A2"]["nodes_positive"] == 2


def test_each_patient_gets_an_opaque_reference_that_an_update_keeps(migrated_engine: Engine, tmp_path: Path) -> None:
    load(migrated_engine, write_jsonl(tmp_path / "p.jsonl", cohort()))
    refs = {pid: row["ref"] for pid, row in stored(migrated_engine).items()}
    assert len(set(refs.values())) == len(refs) == 3
    assert all(len(ref) == 16 and pid not in ref for pid, ref in refs.items())
    changed = cohort()
    changed[1]["nodes_positive"] = 2
    load(migrated_engine, write_jsonl(tmp_path / "p2.jsonl", changed))
    assert {pid: row["ref"] for pid, row in stored(migrated_engine).items()} == refs
    store = PatientStore(migrated_engine)
    assert store.patient_id_for_ref(refs["A2"]) == "A2"
    assert store.patient_id_for_ref("no-such-ref") is None
    assert store.refs(["A1", "A9"]) == {"A1": refs["A1"]}


def test_an_unchanged_record_bringing_a_new_scan_counts_as_updated(migrated_engine: Engine, tmp_path: Path) -> None:
    load(migrated_engine, write_jsonl(tmp_path / "p.jsonl", cohort()))
    again = cohort()
    again[0]["imaging"].append(scan("2025-01-10"))
    assert load(migrated_engine, write_jsonl(tmp_path / "p2.jsonl", again)) == counts(3, updated=1, unchanged=2)
    assert ("A1", "2025-01-10", "CT") in scans(migrated_engine)
    assert len(scans(migrated_engine)) == 3


def test_the_same_patient_twice_in_one_file_is_inserted_then_updated(migrated_engine: Engine, tmp_path: Path) -> None:
    first, second = record(patient_id="D1"), record(patient_id="D1", grade=3)
    path = write_jsonl(tmp_path / "p.jsonl", [first, second, first])
    assert load(migrated_engine, path) == counts(3, inserted=1, updated=2)
    assert stored(migrated_engine)["D1"]["grade"] == 2


def test_invalid_records_are_quarantined_with_their_errors_and_raw_row(
        migrated_engine: Engine, tmp_path: Path) -> None:
    bad = record(patient_id="B1", ki67_percent=140, primary_site="liver")
    (tmp_path / "in").mkdir()
    path = write_jsonl(tmp_path / "in" / "batch.jsonl", [record(patient_id="G1"), bad])
    assert load(migrated_engine, path) == counts(2, inserted=1, quarantined=1)
    [row] = quarantined(migrated_engine)
    assert (row["source"], row["line_no"], row["record_key"]) == ("batch.jsonl", 2, "B1")
    assert json.loads(row["raw"]) == bad
    assert [e["field"] for e in json.loads(row["errors"])] == ["primary_site", "ki67_percent"]
    assert row["resolved_at"] is None and row["reported_at"] is None
    assert "B1" not in stored(migrated_engine)


def test_a_line_that_is_not_json_is_quarantined_not_dropped(migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(patient_id="G1"), "{not json", "", "[1, 2]"])
    assert load(migrated_engine, path) == counts(3, inserted=1, quarantined=2)
    not_json, not_object = quarantined(migrated_engine)
    assert json.loads(not_json["errors"]) == [{"field": "line", "message": "2 is not valid JSON "
                                                                            "(Expecting property name enclosed "
                                                                            "in double quotes)"}]
    assert json.loads(not_json["raw"]) == "{not json" and not_json["record_key"] is None
    assert (not_object["line_no"], json.loads(not_object["errors"])[0]["field"]) == (4, "record")


def test_a_fixed_record_leaves_quarantine(migrated_engine: Engine, tmp_path: Path) -> None:
    load(migrated_engine, write_jsonl(tmp_path / "p.jsonl", [record(patient_id="B1", grade=7)]))
    fixed = load(migrated_engine, write_jsonl(tmp_path / "fixed.jsonl", [record(patient_id="B1", grade=2)]))
    assert fixed == counts(1, inserted=1)
    [row] = quarantined(migrated_engine)
    assert row["resolved_at"] is not None
    assert PatientStore(migrated_engine).open_quarantine_rows() == []


def test_a_bad_row_after_the_valid_one_in_the_same_file_stays_in_quarantine(
        migrated_engine: Engine, tmp_path: Path) -> None:
    rows_in_order = [record(patient_id="B1", grade=7), record(patient_id="B1"), record(patient_id="B1", grade=9)]
    load(migrated_engine, write_jsonl(tmp_path / "p.jsonl", rows_in_order), chunk_size=10)
    first, last = quarantined(migrated_engine)
    assert first["resolved_at"] is not None and last["resolved_at"] is None


def test_the_same_bad_row_imported_twice_is_kept_once(migrated_engine: Engine, tmp_path: Path) -> None:
    bad = record(patient_id="B1", birth_date="1990-01-01", resection_date="1980-01-01")
    assert load(migrated_engine, write_jsonl(tmp_path / "a.jsonl", [bad])) == counts(1, quarantined=1)
    assert load(migrated_engine, write_jsonl(tmp_path / "b.jsonl", [bad, bad])) == counts(2, quarantined=2)
    assert len(quarantined(migrated_engine)) == 1


def test_a_byte_order_mark_is_ignored_in_jsonl(migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", cohort(), bom=True)
    assert load(migrated_engine, path) == counts(3, inserted=3)


def test_a_line_that_is_not_utf8_is_quarantined(migrated_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(json.dumps(record(patient_id="G1")).encode() + b"\n{\"patient_id\": \"X\xff\"}\n")
    assert load(migrated_engine, path) == counts(2, inserted=1, quarantined=1)
    assert "not valid UTF-8" in quarantined(migrated_engine)[0]["errors"]


# CSV ------------------------------------------------------------------------------------------

def test_a_patients_csv_converts_cells_to_the_record_types(migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "patients.csv", list(PATIENT_COLUMNS), [patient_cells(r) for r in cohort()])
    assert load(migrated_engine, path) == counts(3, inserted=3)
    a2 = stored(migrated_engine)["A2"]
    assert (a2["grade"], a2["ki67_percent"], a2["nodes_examined"], a2["hereditary_syndrome"]) == (1, 1.0, 12, None)


def test_the_same_records_from_csv_and_jsonl_are_the_same(migrated_engine: Engine, tmp_path: Path) -> None:
    no_imaging = [{**r, "imaging": []} for r in cohort()]
    load(migrated_engine, write_jsonl(tmp_path / "p.jsonl", no_imaging))
    path = write_csv(tmp_path / "patients.csv", list(PATIENT_COLUMNS), [patient_cells(r) for r in no_imaging])
    assert load(migrated_engine, path) == counts(3, unchanged=3)


def test_a_csv_with_a_byte_order_mark_and_only_some_columns_is_read(migrated_engine: Engine, tmp_path: Path) -> None:
    header = ["patient_id", "birth_date", "care_team", "primary_site", "resection_date", "grade"]
    path = write_csv(tmp_path / "p.csv", header, [["C1", "1960-01-01", "t", "pancreas", "2020-01-01", "2"]], bom=True)
    assert load(migrated_engine, path) == counts(1, inserted=1)
    assert stored(migrated_engine)["C1"]["grade"] == 2


def test_csv_cells_that_do_not_convert_are_named_by_validation(migrated_engine: Engine, tmp_path: Path) -> None:
    raw = record(patient_id="C1", grade="two", ki67_percent="4,5")
    path = write_csv(tmp_path / "p.csv", list(PATIENT_COLUMNS), [patient_cells(raw)])
    assert load(migrated_engine, path) == counts(1, quarantined=1)
    [row] = quarantined(migrated_engine)
    assert [e["field"] for e in json.loads(row["errors"])] == ["grade", "ki67_percent"]
    assert json.loads(row["raw"])["ki67_percent"] == "4,5" and row["line_no"] == 2


def v2_cohort() -> list[dict[str, Any]]:
    """Records with the fields of rules v2: resection type, lymphovascular invasion, gastric type."""
    return [record(patient_id="V1", primary_site="appendix", tumor_size_mm=8, nodes_positive=None, nodes_examined=0,
                   resection_type="local_excision", lymphovascular_invasion=False),
            record(patient_id="V2", primary_site="rectum", resection_type="formal_resection",
                   lymphovascular_invasion=True, imaging=[scan("2023-01-10", "endoscopy")]),
            record(patient_id="V3", primary_site="stomach", gastric_type=1, imaging=[scan("2023-01-10", "endoscopy")]),
            record(patient_id="V4", primary_site="lung", resection_type="formal_resection"),
            record(patient_id="V5", primary_site="thymus")]


def read_back(engine: Engine, raws: list[dict[str, Any]]) -> None:
    """Each record reads back from the database as it validates from its raw form, v2 fields included."""
    store = PatientStore(engine)
    for raw in raws:
        expected, errors = parse_record(raw, GUIDELINES)
        assert expected is not None, errors
        assert store.find_record(raw["patient_id"]) == expected
    streamed = {r.patient_id: r for r in store.stream_records()}
    assert all(streamed[raw["patient_id"]] == store.find_record(raw["patient_id"]) for raw in raws)


def test_the_v2_fields_round_trip_from_jsonl(migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "v2.jsonl", v2_cohort())
    assert load(migrated_engine, path) == counts(5, inserted=5)
    read_back(migrated_engine, v2_cohort())
    v1 = stored(migrated_engine)["V1"]
    assert (v1["resection_type"], v1["lymphovascular_invasion"], v1["gastric_type"]) == ("local_excision", False, None)
    assert load(migrated_engine, path) == counts(5, unchanged=5)


def test_the_v2_fields_round_trip_from_csv(migrated_engine: Engine, tmp_path: Path) -> None:
    no_imaging = [{**r, "imaging": []} for r in v2_cohort()]
    cells = [patient_cells(r) for r in no_imaging]
    lvi = PATIENT_COLUMNS.index("lymphovascular_invasion")
    cells[0][lvi], cells[1][lvi] = "FALSE", " true"  # any case, surrounding spaces as for numbers
    path = write_csv(tmp_path / "patients.csv", list(PATIENT_COLUMNS), cells)
    assert load(migrated_engine, path) == counts(5, inserted=5)
    read_back(migrated_engine, no_imaging)
    assert (stored(migrated_engine)["V3"]["gastric_type"], stored(migrated_engine)["V2"]["lymphovascular_invasion"]
            ) == (1, True)
    assert load(migrated_engine, write_jsonl(tmp_path / "same.jsonl", no_imaging)) == counts(5, unchanged=5)


def test_an_endoscopy_in_an_imaging_csv_is_stored(migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imaging.csv", ["patient_id", "date", "modality"], [["V3", "2024-02-01", "endoscopy"]])
    assert load(migrated_engine, path) == counts(1, inserted=1)
    assert scans(migrated_engine) == [("V3", "2024-02-01", "endoscopy")]


@pytest.mark.parametrize(("cell", "field"), [("yes", "lymphovascular_invasion"), ("1", "lymphovascular_invasion"),
                                             ("L1", "lymphovascular_invasion"), ("one", "gastric_type"),
                                             ("1.0", "gastric_type")])
def test_a_v2_cell_that_does_not_convert_is_quarantined_naming_its_field(
        migrated_engine: Engine, tmp_path: Path, cell: str, field: str) -> None:
    raw = record(patient_id="C1", primary_site="stomach", **{field: cell})
    path = write_csv(tmp_path / "p.csv", list(PATIENT_COLUMNS), [patient_cells(raw)])
    assert load(migrated_engine, path) == counts(1, quarantined=1)
    [row] = quarantined(migrated_engine)
    assert [e["field"] for e in json.loads(row["errors"])] == [field]
    assert json.loads(row["raw"])[field] == cell


def test_a_csv_row_with_the_wrong_number_of_columns_is_quarantined(migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", list(PATIENT_COLUMNS),
                     [patient_cells(record(patient_id="C1")), ["C2", "too", "short"]])
    assert load(migrated_engine, path) == counts(2, inserted=1, quarantined=1)
    [row] = quarantined(migrated_engine)
    assert json.loads(row["errors"])[0]["field"] == "line" and json.loads(row["raw"]) == ["C2", "too", "short"]


def test_an_imaging_csv_adds_scans_without_duplicates(migrated_engine: Engine, tmp_path: Path) -> None:
    header = ["patient_id", "date", "modality"]
    path = write_csv(tmp_path / "imaging.csv", header, [
        ["NOT-YET-IMPORTED", "2024-02-01", "CT"], ["NOT-YET-IMPORTED", "2024-02-01", "CT"],
        ["A1", "2024-13-01", "CT"], ["A1", "2024-03-01", "PET"], ["", "2024-03-01", "MRI"],
    ])
    assert load(migrated_engine, path) == counts(5, inserted=1, unchanged=1, quarantined=3)
    assert load(migrated_engine, path) == counts(5, unchanged=2, quarantined=3)
    assert scans(migrated_engine) == [("NOT-YET-IMPORTED", "2024-02-01", "CT")]
    fields = [[e["field"] for e in json.loads(r["errors"])] for r in quarantined(migrated_engine)]
    assert fields == [["date"], ["modality"], ["patient_id"]]


# Transactions and scale -----------------------------------------------------------------------

def test_a_crash_mid_import_keeps_whole_chunks_only(migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(patient_id=f"K{i}", imaging=[scan("2023-01-01")])
                                              for i in range(5)])
    calls: list[int] = []

    def crashing_clock() -> datetime:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return datetime.now(UTC)

    with pytest.raises(RuntimeError, match="power cut"):
        import_source(PatientStore(migrated_engine), open_source(path), GUIDELINES, chunk_size=2,
                      clock=crashing_clock)
    assert sorted(stored(migrated_engine)) == ["K0", "K1"]
    assert [s[0] for s in scans(migrated_engine)] == ["K0", "K1"]
    assert load(migrated_engine, path, chunk_size=2) == counts(5, inserted=3, unchanged=2)


def test_many_rows_in_several_chunks_are_all_accounted_for(migrated_engine: Engine, tmp_path: Path) -> None:
    people = [record(patient_id=f"M{i:04d}", imaging=[scan("2023-01-01"), scan("2024-01-01", "MRI")])
              for i in range(450)]
    people[100]["grade"] = 5
    progress: list[int] = []
    result = load(migrated_engine, write_jsonl(tmp_path / "p.jsonl", people), chunk_size=100, on_rows=progress.append)
    assert result == counts(450, inserted=449, quarantined=1)
    assert progress == [100, 100, 100, 100, 50]
    assert len(scans(migrated_engine)) == 898


def test_database_errors_never_show_patient_data(migrated_engine: Engine) -> None:
    from netflow.adapters.db import DatabaseError
    from netflow.adapters.patients import QuarantineEntry

    entry = QuarantineEntry(source="p.jsonl", line_no=1, record_key="MRN-SECRET", raw='{"name": "Secret Name"}',
                            errors=(), raw_hash=None)  # type: ignore[arg-type]
    store = PatientStore(migrated_engine)
    with pytest.raises(DatabaseError, match=r"IntegrityError|NotNullViolation") as caught, store.transaction() as tx:
        tx.quarantine([entry], utcnow())
    shown = str(caught.value) + repr(caught.value.__cause__) + str(caught.value.args)
    assert "Secret Name" not in shown and "MRN-SECRET" not in shown
