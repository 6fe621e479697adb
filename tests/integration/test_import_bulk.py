"""The import's fast paths: COPY and one upsert per chunk (PostgreSQL), one-parameter lookups, the lines of a
JSON Lines file checked in worker processes. Each must store exactly what the plain path stores."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from netflow.adapters.bulk import insert_many
from netflow.adapters.db import make_engine, upgrade
from netflow.adapters.patients import PatientStore, PatientWriter
from netflow.adapters.tables import imaging_studies, patients, quarantine
from netflow.cli import main
from netflow.domain.record import Scan
from netflow.imports.formats import SourceChanged, open_source
from netflow.imports.rows import ImportCounts, import_source
from tests.integration.test_import import GUIDELINES, counts, load, rows, stored, write_jsonl
from tests.support.records import record, scan

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def mixed_file(path: Path, size: int = 60) -> Path:
    """Valid records, invalid ones (quarantined, some healed later in the file), repeats, blank lines, bad JSON."""
    lines: list[Any] = []
    for n in range(size):
        pid = f"W{n % (size // 2):03d}"  # every patient twice: the second time changed or the same
        imaging = [scan(f"20{20 + n % 5}-0{1 + n % 9}-10", "MRI" if n % 2 else "CT")]
        if n % 11 == 3:
            lines.append(record(patient_id=pid, grade=9))  # invalid
        elif n % 13 == 5:
            lines.append(f"{{not json {n}")  # each unlike the others: quarantine keeps a raw text once
        else:
            lines.append(record(patient_id=pid, ki67_percent=float(n % 4), imaging=imaging))
        if n % 17 == 0:
            lines.append("")
    return write_jsonl(path, lines)


def database(engine: Engine, stamps: bool = True) -> dict[str, Any]:
    """Everything an import stores, but the references (random) and the row ids; without `stamps`, each time
    (created, updated, resolved) is only whether it is set."""
    def kept(table: Any, *order: Any) -> list[dict[str, Any]]:
        return [{k: v if stamps or not isinstance(v, datetime) else True
                 for k, v in r.items() if k not in ("id", "ref")} for r in rows(engine, table, *order)]

    return {"patients": kept(patients, patients.c.patient_id), "imaging": kept(imaging_studies),
            "quarantine": kept(quarantine)}


def emptied(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (patients, imaging_studies, quarantine):
            conn.execute(delete(table))


def test_one_and_two_workers_store_the_same_rows_and_count_the_same(migrated_engine: Engine, tmp_path: Path) -> None:
    path = mixed_file(tmp_path / "p.jsonl")
    results = []
    for workers in (1, 2, 1):
        emptied(migrated_engine)
        told: list[int] = []
        first = load(migrated_engine, path, chunk_size=7, workers=workers, clock=clock, on_rows=told.append)
        again = load(migrated_engine, path, chunk_size=7, workers=workers, clock=clock)
        results.append((first, again, told, database(migrated_engine)))
    assert results[0] == results[1] == results[2]
    first, again, told, stored_rows = results[1]
    assert first.read == 60 and first.quarantined > 0 and first.updated > 0 and again.unchanged > 0
    assert told == [7] * 8 + [4]
    assert any(row["resolved_at"] is not None for row in stored_rows["quarantine"])  # healed later in the file
    assert any(row["resolved_at"] is None for row in stored_rows["quarantine"])
    refused = {n for n, line in enumerate(path.read_text().splitlines(), 1) if "{not" in line or '"grade": 9' in line}
    assert sorted(row["line_no"] for row in stored_rows["quarantine"]) == sorted(refused)  # numbered as in the file


def test_the_import_command_prints_the_same_with_one_or_two_workers(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    upgrade(database_url)
    monkeypatch.setenv("NETFLOW_DATABASE_URL", database_url)
    given: list[int] = []

    def small_chunks(*args: Any, **kwargs: Any) -> ImportCounts:  # a small file in several chunks
        given.append(kwargs["workers"])
        return import_source(*args, **{**kwargs, "chunk_size": 5})

    monkeypatch.setattr("netflow.services.imports.import_source", small_chunks)
    path = mixed_file(tmp_path / "p.jsonl", size=30)
    engine = make_engine(database_url)
    printed = []
    for workers in ("1", "2"):
        emptied(engine)
        monkeypatch.setenv("NETFLOW_WORKERS", workers)
        assert main(["import", str(path)]) == 0
        printed.append((capsys.readouterr().out, database(engine, stamps=False)))
    engine.dispose()
    assert given == [1, 2]
    assert printed[0] == printed[1]
    assert printed[0][0].startswith("p.jsonl: 30 read,")


def test_a_known_patient_keeps_its_ref_and_a_new_one_gets_its_own(migrated_engine: Engine, tmp_path: Path) -> None:
    load(migrated_engine, write_jsonl(tmp_path / "a.jsonl", [record(patient_id="R1"), record(patient_id="R2")]))
    before = {pid: row["ref"] for pid, row in stored(migrated_engine).items()}
    changed = [record(patient_id="R1", grade=3), record(patient_id="R2"), record(patient_id="R3")]
    assert load(migrated_engine, write_jsonl(tmp_path / "b.jsonl", changed)) == counts(3, inserted=1, updated=1,
                                                                                       unchanged=1)
    after = stored(migrated_engine)
    assert after["R1"]["grade"] == 3 and after["R1"]["ref"] == before["R1"] and after["R2"]["ref"] == before["R2"]
    assert len(after["R3"]["ref"]) == 16 and after["R3"]["ref"] not in before.values()


def test_imaging_keeps_where_it_came_from_and_a_study_stored_twice_keeps_the_first(migrated_engine: Engine) -> None:
    store = PatientStore(migrated_engine)
    with store.transaction() as tx:
        tx.add_imaging([("S1", Scan(date(2024, 1, 2), "CT", "fhir", "ImagingStudy/7"))], NOW)
        tx.add_imaging_rows([("S1", date(2024, 1, 2), "CT", "navigator", "12"),
                             ("S1", date(2024, 3, 4), "MRI", None, None)], NOW)
        assert tx.scan_keys({"S1", "S2"}) == {("S1", date(2024, 1, 2), "CT"), ("S1", date(2024, 3, 4), "MRI")}
    assert [(r["date"], r["source"], r["source_key"]) for r in rows(migrated_engine, imaging_studies)] == [
        (date(2024, 1, 2), "fhir", "ImagingStudy/7"), (date(2024, 3, 4), None, None)]


def test_a_chunk_that_fails_mid_way_leaves_nothing_of_it_and_the_next_import_is_whole(
        migrated_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    people = [record(patient_id=f"F{n}", imaging=[scan("2024-01-10")]) for n in range(4)]
    path = write_jsonl(tmp_path / "p.jsonl", [*people, record(patient_id="F9", grade=9)])
    real = PatientWriter.add_imaging_rows
    calls: list[int] = []

    def failing_second(self: PatientWriter, scans: Any, now: datetime) -> None:
        calls.append(1)
        real(self, scans, now)  # the chunk's patients and imaging are written ...
        if len(calls) == 2:
            raise RuntimeError("lost the database")  # ... then the chunk fails

    monkeypatch.setattr(PatientWriter, "add_imaging_rows", failing_second)
    with pytest.raises(RuntimeError):
        load(migrated_engine, path, chunk_size=2)
    assert sorted(stored(migrated_engine)) == ["F0", "F1"]
    assert [r["patient_id"] for r in rows(migrated_engine, imaging_studies)] == ["F0", "F1"]
    monkeypatch.setattr(PatientWriter, "add_imaging_rows", real)
    assert load(migrated_engine, path, chunk_size=2) == counts(5, inserted=2, unchanged=2, quarantined=1)
    assert sorted(stored(migrated_engine)) == ["F0", "F1", "F2", "F3"]
    assert len(rows(migrated_engine, imaging_studies)) == 4 and len(rows(migrated_engine, quarantine)) == 1


def test_bulk_inserts_twice_in_one_transaction_return_only_the_rows_inserted(migrated_engine: Engine) -> None:
    columns = ("patient_id", "date", "modality", "created_at")
    first = [("B1", date(2024, 1, 1), "CT", NOW), ("B2", date(2024, 1, 1), "MRI", NOW)]
    with migrated_engine.begin() as conn:
        assert sorted(insert_many(conn, imaging_studies, columns, first, "ON CONFLICT DO NOTHING",
                                  returning=("patient_id",))) == [("B1",), ("B2",)]
        again = [("B2", date(2024, 1, 1), "MRI", NOW), ("B3", date(2024, 2, 1), "CT", NOW)]
        assert insert_many(conn, imaging_studies, columns, again, "ON CONFLICT DO NOTHING",
                           returning=("patient_id",)) == [("B3",)]
        stamps = conn.execute(select(imaging_studies.c.created_at)).scalars().all()
    assert len(stamps) == 3 and all(s.replace(tzinfo=UTC) == NOW for s in stamps)


def test_a_file_appended_to_while_workers_check_it_is_refused_and_the_committed_chunks_stay(
        migrated_engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(patient_id=f"G{n}") for n in range(9)])

    def append(rows: int) -> None:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record(patient_id="LATE")) + "\n")

    with pytest.raises(SourceChanged, match="the 2 rows of the chunks committed before stay imported"):
        import_source(PatientStore(migrated_engine), open_source(path), GUIDELINES, chunk_size=2, workers=2,
                      on_rows=append)
    assert sorted(stored(migrated_engine)) == ["G0", "G1"]


def test_a_small_file_with_two_workers_is_checked_here_and_counted_alike(migrated_engine: Engine,
                                                                          tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record(patient_id="T1"), "[1, 2", record(patient_id="T2", grade=9)])
    assert import_source(PatientStore(migrated_engine), open_source(path), GUIDELINES, workers=2) == ImportCounts(
        3, 1, 0, 0, 2)


@pytest.mark.postgres
def test_a_postgresql_import_refreshes_the_statistics_of_the_tables_it_looks_up(postgres_url: str,
                                                                                tmp_path: Path) -> None:
    """Stale statistics plan a grown table as tiny: its lookups become sequential scans (minutes at 1M).
    The import analyzes after its first chunk and each doubling: never analyzed, reltuples would be -1."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        load(engine, mixed_file(tmp_path / "mixed.jsonl", size=120), chunk_size=7)
        with engine.connect() as conn:
            analyzed = dict(conn.exec_driver_sql(
                "SELECT relname, reltuples FROM pg_class WHERE relname IN ('patients', 'imaging_studies', "
                "'quarantine') AND relkind = 'r'").all())
            stored = {table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one() for table in analyzed}
    finally:
        engine.dispose()
    assert set(analyzed) == {"patients", "imaging_studies", "quarantine"}
    assert all(stored[table] > 0 and analyzed[table] >= stored[table] / 2 for table in analyzed), (analyzed, stored)
