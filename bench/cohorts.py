"""The benchmark's data: seeded synthetic cohorts as JSON Lines and CSV, and the databases they go into.

    files = cohort_files(workdir, size=100_000, seed=7, env=env)   # made once, then reused
    db = Database.sqlite(workdir / "bench-100000.db")             # or Database.postgres("netflow_bench_100000")
    db.create(); ...; db.drop()

Cohorts come from `netflow demo-data` (about 5 scans per patient, 2 % malformed on purpose); the
CSV pair (patients.csv, imaging.csv) is written from the same records.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from bench.measure import timed

__all__ = ["POSTGRES_ADMIN", "CohortFiles", "Database", "cohort_files", "netflow"]

POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
PATIENT_COLUMNS = (
    "patient_id", "name", "birth_date", "care_team", "primary_site", "differentiation", "grade",
    "ki67_percent", "tumor_size_mm", "nodes_positive", "nodes_examined", "margin", "hereditary_syndrome",
    "resection_date", "status", "status_date", "guideline",
)


def netflow(*args: str) -> list[str]:
    """The argv of a `netflow` command run with this interpreter."""
    return [sys.executable, "-m", "netflow", *args]


@dataclass(frozen=True)
class CohortFiles:
    size: int
    jsonl: Path
    teams: Path
    patients_csv: Path
    imaging_csv: Path


def cohort_files(workdir: Path, size: int, seed: int, env: Mapping[str, str]) -> CohortFiles:
    """The cohort of `size` patients for `seed`, generated once (same seed, same bytes) and kept."""
    folder = workdir / f"cohort-{size}-seed{seed}"
    files = CohortFiles(size, folder / "patients.jsonl", folder / "teams.yaml", folder / "patients.csv",
                        folder / "imaging.csv")
    if not files.imaging_csv.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"  generating {size:,} patients (seed {seed})", flush=True)
        timed(netflow("demo-data", "--patients", str(size), "--seed", str(seed), "--out", str(files.jsonl),
                      "--teams-out", str(files.teams)), env)
        _write_csv(files)
    return files


def _cell(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _write_csv(files: CohortFiles) -> None:
    """patients.csv and imaging.csv from the JSON Lines file (lines that are not objects are left out)."""
    partial = files.imaging_csv.with_suffix(".partial")
    with (files.jsonl.open(encoding="utf-8") as source,
          files.patients_csv.open("w", encoding="utf-8", newline="") as patients_out,
          partial.open("w", encoding="utf-8", newline="") as imaging_out):
        patients, imaging = csv.writer(patients_out), csv.writer(imaging_out)
        patients.writerow(PATIENT_COLUMNS)
        imaging.writerow(("patient_id", "date", "modality"))
        for line in source:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            patients.writerow([_cell(record.get(column)) for column in PATIENT_COLUMNS])
            scans = record.get("imaging")
            for scan in scans if isinstance(scans, list) else ():
                if isinstance(scan, dict):
                    imaging.writerow((_cell(record.get("patient_id")), _cell(scan.get("date")),
                                      _cell(scan.get("modality"))))
    os.replace(partial, files.imaging_csv)


@dataclass(frozen=True)
class Database:
    """A patient database the benchmark creates and drops: a SQLite file or a PostgreSQL database."""

    backend: str
    url: str
    name: str

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        return cls("sqlite", f"sqlite:///{path}", str(path))

    @classmethod
    def postgres(cls, name: str) -> Database:
        return cls("postgresql", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name)

    def drop(self) -> None:
        if self.backend == "sqlite":  # the file, its -wal and -shm, and netflow's .lock files beside it
            path = Path(self.name)
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink(missing_ok=True)
            return
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))

    def create(self, env: Mapping[str, str]) -> None:
        """A fresh, migrated, empty database."""
        self.drop()
        if self.backend == "postgresql":
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        timed(netflow("db", "upgrade"), {**env, "NETFLOW_DATABASE_URL": self.url})

    def copy_to(self, other: Database) -> None:
        """Make `other` a copy of this database (SQLite: the file; PostgreSQL: CREATE DATABASE ... TEMPLATE)."""
        other.drop()
        if self.backend == "sqlite":
            shutil.copyfile(self.name, other.name)
            return
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(other.name),
                                                                         sql.Identifier(self.name)))

    def execute(self, *statements: str) -> None:
        """Run plain SQL (the benchmark resets the reminder ledger between runs with it)."""
        if self.backend == "sqlite":
            import sqlite3

            with sqlite3.connect(self.name) as conn:
                for statement in statements:
                    conn.execute(statement)
            return
        dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={self.name}"
        with psycopg.connect(dsn, autocommit=False) as conn:
            for statement in statements:
                conn.execute(statement.encode())
            conn.commit()


def server_version() -> str:
    with psycopg.connect(POSTGRES_ADMIN) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"
