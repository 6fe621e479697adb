"""Upgrading a rules v1 database (revision 0001) to head: nothing lost, nothing re-evaluated differently.

A database is built at revision 0001 and filled through that revision's own tables (reflected, so
with exactly its columns): patients with the record_hash v1 computed, imaging, care teams, a
quarantine, an outbox message with its events, a run. After `upgrade`, every row is still there,
the three new patient columns are NULL, `netflow scan` says what `netflow evaluate` says of the same
records, and re-importing the v1 file finds every patient unchanged. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, Table, select

from netflow.adapters.database import Database
from netflow.adapters.db import alembic_config, current_revision, head_revision, make_engine, upgrade
from netflow.adapters.patients import PatientStore, bucket_of
from netflow.cli import main
from netflow.cohort import evaluate_cohort
from netflow.domain.engine import evaluate
from netflow.domain.record import PatientRecord, parse_record
from netflow.guidelines import load_rulebook
from netflow.imports.formats import open_source
from netflow.imports.rows import ImportCounts, import_source
from tests.integration.test_migrations import drift
from tests.support.v1 import V1_FIELDS, v1_hash

# What revision 0001 and rules v1 knew (frozen here: the code's lists now hold the v2 values too).
V1_REVISION = "0001"
V1_SITES = ("pancreas", "small_intestine", "appendix", "rectum", "colon", "stomach", "duodenum", "other")
V1_MODALITIES = ("CT", "MRI", "SSTR_PET", "FDG_PET", "US", "EUS", "other")
V1_GUIDELINES = ("nccn", "consensus2018")
V2_COLUMNS = ("resection_type", "lymphovascular_invasion", "gastric_type")
TABLES = ("patients", "imaging_studies", "care_teams", "team_members", "quarantine", "outbox", "events", "runs")
TEAM_GUIDELINES = {"hpb-west": "consensus2018"}  # the other teams follow the book's default
AS_OF_DATES = (date(2019, 6, 30), date(2024, 2, 29), date(2026, 12, 1), date(2031, 1, 15))
STAMP = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
# The import refuses imaging more than a year after its clock: no generated scan is later than this.
LATEST_SCAN = date(2027, 6, 1)


def day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days))


def v1_record(rng: random.Random, number: int) -> dict[str, Any]:
    """A random valid record of rules v1: v1 sites, modalities and guidelines, none of the v2 fields."""
    resection = day(rng, date(2012, 1, 1), date(2026, 6, 1))
    examined = rng.choice([None, 0, 4, 12])
    scans = sorted({(day(rng, resection - timedelta(days=60), LATEST_SCAN),
                     rng.choice(("CT", "CT", "MRI", *V1_MODALITIES))) for _ in range(rng.randrange(5))})
    status = rng.choice(["active"] * 6 + ["recurrence", "deceased", "opted_out", "transferred"])
    return {
        "patient_id": rng.choice(["mrn-", "MRN_", "é"]) + f"{number:04d}",
        "name": rng.choice([None, f"Patient {number}", "Zoë O'Brien & <Sons>"]),
        "birth_date": day(rng, date(1935, 1, 1), date(1995, 1, 1)).isoformat(),
        "care_team": rng.choice(["gi-onc-east", "hpb-west", "endo"]),
        "primary_site": rng.choice(V1_SITES),
        "differentiation": rng.choice([None, "well", "well", "poor"]),
        "grade": rng.choice([None, 1, 2, 3]),
        "ki67_percent": rng.choice([None, 0, 2.5, 5, 5.5, 21.3]),
        "tumor_size_mm": rng.choice([None, 5, 9.5, 15, 19.9, 20, 35]),
        "nodes_positive": None if rng.random() < 0.15 else rng.randint(0, examined if examined is not None else 3),
        "nodes_examined": examined,
        "margin": rng.choice([None, "R0", "R0", "R1", "R2"]),
        "hereditary_syndrome": rng.choice([None] * 10 + ["MEN1"]),
        "resection_date": resection.isoformat(),
        "imaging": [{"date": when.isoformat(), "modality": modality} for when, modality in scans],
        "status": status,
        "status_date": None if status == "active" else day(rng, resection, date(2030, 1, 1)).isoformat(),
        "guideline": rng.choice([None, None, *V1_GUIDELINES]),
    }


def v1_cohort(size: int = 120, seed: int = 20260504) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [v1_record(rng, n) for n in range(size)]


def parsed(raw: dict[str, Any]) -> PatientRecord:
    record, errors = parse_record(raw, V1_GUIDELINES)
    assert record is not None, errors
    return record




def reflected(engine: Engine) -> dict[str, Table]:
    meta = MetaData()
    meta.reflect(engine, only=TABLES)
    return dict(meta.tables)


def fill_v1(engine: Engine, cohort: list[dict[str, Any]]) -> None:
    """Every table of revision 0001, written through its reflected columns (the v2 columns do not exist yet)."""
    t = reflected(engine)
    assert not set(V2_COLUMNS) & set(t["patients"].c.keys())
    records = [parsed(raw) for raw in cohort]
    with engine.begin() as conn:
        conn.execute(t["patients"].insert(), [
            {**{name: getattr(r, name) for name in V1_FIELDS}, "bucket": bucket_of(r.patient_id),
             "record_hash": v1_hash(r), "created_at": STAMP, "updated_at": STAMP} for r in records])
        conn.execute(t["imaging_studies"].insert(), [
            {"patient_id": r.patient_id, "date": s.date, "modality": s.modality, "created_at": STAMP}
            for r in records for s in r.imaging])
        conn.execute(t["care_teams"].insert(), [
            {"key": "gi-onc-east", "name": "GI Oncology East", "guideline": None, "updated_at": STAMP},
            {"key": "hpb-west", "name": "HPB Surgery West", "guideline": "consensus2018", "updated_at": STAMP}])
        conn.execute(t["team_members"].insert(), [
            {"team_key": "gi-onc-east", "role": "navigator", "email": "nav.east@hospital.example"},
            {"team_key": "hpb-west", "role": "lead", "email": "lead.west@hospital.example"}])
        conn.execute(t["quarantine"].insert(), [
            {"source": "p.jsonl", "line_no": 3, "record_key": "B1", "raw": '{"patient_id": "B1", "grade": 7}',
             "errors": '[{"field": "grade", "message": "must be one of 1, 2, 3; got 7"}]', "raw_hash": "a" * 64,
             "created_at": STAMP, "resolved_at": None, "reported_at": STAMP},
            {"source": "p.jsonl", "line_no": 4, "record_key": None, "raw": '"{not json"',
             "errors": '[{"field": "line", "message": "4 is not valid JSON"}]', "raw_hash": "b" * 64,
             "created_at": STAMP, "resolved_at": STAMP, "reported_at": None}])
        outbox_id = conn.execute(t["outbox"].insert(), {
            "kind": "digest", "team_key": "gi-onc-east", "run_id": "r1", "as_of": date(2026, 5, 4),
             "message_id": "<d1@netflow>", "subject": "NET surveillance", "sender": "netflow@hospital.example",
             "to_addrs": "nav.east@hospital.example", "cc_addrs": "", "body_text": "text", "body_html": "<p>html</p>",
             "status": "sent", "attempts": 1, "last_error": None, "created_at": STAMP, "sent_at": STAMP,
        }).inserted_primary_key[0]
        conn.execute(t["events"].insert(), [
            {"patient_id": records[0].patient_id, "care_team": records[0].care_team, "kind": "overdue",
             "event_key": "2026-01-01", "window_open": date(2026, 1, 1), "as_of": date(2026, 5, 4), "run_id": "r1",
             "payload": "{}", "outbox_id": outbox_id, "created_at": STAMP},
            {"patient_id": records[1].patient_id, "care_team": records[1].care_team, "kind": "needs_review",
             "event_key": "review", "window_open": None, "as_of": date(2026, 5, 4), "run_id": "r1",
             "payload": "{}", "outbox_id": None, "created_at": STAMP}])
        conn.execute(t["runs"].insert(), [
            {"run_id": "r1", "as_of": date(2026, 5, 4), "started_at": STAMP, "finished_at": STAMP, "summary": "{}"}])


def snapshot(engine: Engine, columns: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in the given columns, in primary-key order."""
    t = reflected(engine)
    with engine.connect() as conn:
        return {name: [dict(row._mapping) for row in conn.execute(
            select(*(t[name].c[c] for c in cols)).order_by(*t[name].primary_key.columns))]
            for name, cols in columns.items()}


def downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def v1_database(database_url: str) -> tuple[str, list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """A database at revision 0001 holding the v1 cohort, upgraded to head; with what it held before."""
    assert upgrade(database_url, V1_REVISION) == V1_REVISION
    cohort = v1_cohort()
    engine = make_engine(database_url)
    try:
        fill_v1(engine, cohort)
        before = snapshot(engine, {name: list(table.c.keys()) for name, table in reflected(engine).items()})
    finally:
        engine.dispose()
    assert upgrade(database_url) == head_revision() != V1_REVISION
    return database_url, cohort, before


def test_upgrading_a_v1_database_keeps_every_row_and_leaves_the_new_columns_null(
        v1_database: tuple[str, list[dict[str, Any]], dict[str, list[dict[str, Any]]]]) -> None:
    url, cohort, before = v1_database
    engine = make_engine(url)
    try:
        assert drift(engine) == []
        assert snapshot(engine, {name: list(rows[0]) for name, rows in before.items()}) == before
        assert len(before["patients"]) == len(cohort) and all(before[name] for name in TABLES)
        new = snapshot(engine, {"patients": ["patient_id", *V2_COLUMNS]})["patients"]
        assert len(new) == len(cohort)
        assert all(row[c] is None for row in new for c in V2_COLUMNS)
        refs = [row["ref"] for row in snapshot(engine, {"patients": ["ref"]})["patients"]]
        assert None not in refs and len(set(refs)) == len(cohort)  # migration 0004 gave each patient one
    finally:
        engine.dispose()


def test_after_the_upgrade_the_scan_says_what_evaluate_says(
        v1_database: tuple[str, list[dict[str, Any]], dict[str, list[dict[str, Any]]]]) -> None:
    url, cohort, _ = v1_database
    book = load_rulebook()
    engine = make_engine(url)
    try:
        statuses: set[str] = set()
        for as_of in AS_OF_DATES:
            scanned = [DUMPS(e.to_dict()) for e in evaluate_cohort(Database(engine), as_of, book)]
            evaluated = [DUMPS(evaluate(raw, as_of, book, TEAM_GUIDELINES.get(raw["care_team"])).to_dict())
                         for raw in sorted(cohort, key=lambda r: r["patient_id"])]
            assert scanned == evaluated, as_of
            statuses.update(json.loads(line)["status"] for line in scanned)
        assert statuses >= {"inactive", "needs_review", "not_due", "overdue", "completed"}
    finally:
        engine.dispose()


def test_after_the_upgrade_the_scan_command_prints_what_the_evaluate_command_prints(
        v1_database: tuple[str, list[dict[str, Any]], dict[str, list[dict[str, Any]]]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url, cohort, _ = v1_database
    monkeypatch.setenv("NETFLOW_DATABASE_URL", url)
    east = write_jsonl(tmp_path / "east.jsonl", [r for r in cohort if r["care_team"] == "gi-onc-east"])
    capsys.readouterr()
    assert main(["evaluate", str(east), "--as-of", "2026-12-01"]) == 0
    evaluated = sorted(capsys.readouterr().out.splitlines(), key=lambda line: json.loads(line)["patient_id"])
    assert main(["scan", "--as-of", "2026-12-01", "--team", "gi-onc-east"]) == 0
    assert capsys.readouterr().out.splitlines() == evaluated and evaluated


def test_reimporting_the_v1_file_after_the_upgrade_finds_every_patient_unchanged(
        v1_database: tuple[str, list[dict[str, Any]], dict[str, list[dict[str, Any]]]], tmp_path: Path) -> None:
    url, cohort, before = v1_database
    engine = make_engine(url)
    try:
        source = open_source(write_jsonl(tmp_path / "v1.jsonl", cohort))
        counts = import_source(PatientStore(engine), source, load_rulebook().ids)
        assert counts == ImportCounts(read=len(cohort), unchanged=len(cohort))
        assert snapshot(engine, {"patients": list(before["patients"][0])}) == {"patients": before["patients"]}
    finally:
        engine.dispose()


def test_downgrading_to_0001_and_upgrading_again_keeps_the_v1_rows(
        v1_database: tuple[str, list[dict[str, Any]], dict[str, list[dict[str, Any]]]]) -> None:
    url, _, before = v1_database
    downgrade(url, V1_REVISION)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == V1_REVISION
        assert not set(V2_COLUMNS) & set(reflected(engine)["patients"].c.keys())
        assert snapshot(engine, {name: list(rows[0]) for name, rows in before.items()}) == before
        assert upgrade(url) == head_revision()
        assert drift(engine) == []
        assert snapshot(engine, {name: list(rows[0]) for name, rows in before.items()}) == before
    finally:
        engine.dispose()
