"""`netflow scan` evaluates the stored cohort exactly as `netflow evaluate` evaluates the records."""

from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from netflow.adapters.database import Database
from netflow.adapters.patients import PatientStore
from netflow.adapters.tables import utcnow
from netflow.cli import main
from netflow.cohort import evaluate_cohort
from netflow.config import Settings
from netflow.domain.engine import evaluate
from netflow.domain.evaluation import Evaluation
from netflow.domain.record import MODALITIES, PRIMARY_SITES, parse_record
from netflow.domain.rules import RuleBook
from netflow.domain.teams import CareTeam
from netflow.errors import InputError
from netflow.guidelines import load_rulebook
from netflow.imports.formats import open_source
from netflow.imports.rows import import_source
from netflow.installation import Installation
from netflow.services.scan import scan
from tests.support.records import record, vignettes

BOOK = load_rulebook()
DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
AS_OF_DATES = (date(2019, 6, 30), date(2024, 2, 29), date(2026, 12, 1), date(2031, 1, 15))
# The import refuses imaging more than a year after its clock: no generated scan is later than this.
LATEST_SCAN = date(2027, 6, 1)


def jsonl(evaluations: list[Evaluation]) -> list[str]:
    return [DUMPS(e.to_dict()) for e in evaluations]


def import_records(engine: Engine, tmp_path: Path, records: list[Any]) -> None:
    path = tmp_path / f"import-{len(list(tmp_path.iterdir()))}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    import_source(PatientStore(engine), open_source(path), BOOK.ids)


def expected(records: list[dict[str, Any]], as_of: date, team_guidelines: dict[str, str] | None = None,
             book: RuleBook = BOOK) -> list[str]:
    """What `netflow evaluate` says about the valid records, in patient_id order."""
    guidelines = team_guidelines or {}
    valid = sorted((r for r in records if parse_record(r, book.ids)[0] is not None), key=lambda r: r["patient_id"])
    return jsonl([evaluate(r, as_of, book, guidelines.get(r["care_team"])) for r in valid])


def scanned(engine: Engine, as_of: date, **kwargs: Any) -> list[str]:
    return jsonl(list(evaluate_cohort(Database(engine), as_of, BOOK, **kwargs)))


def random_day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max((end - start).days, 1)))


def random_record(rng: random.Random, number: int) -> dict[str, Any]:
    """A random but valid record: every field optional or not, any site, scans of any modality."""
    birth = random_day(rng, date(1935, 1, 1), date(1995, 1, 1))
    resection = random_day(rng, date(2012, 1, 1), date(2026, 6, 1))
    examined = rng.choice([None, 0, 4, 12, 20])
    scan_days = sorted(random_day(rng, resection - timedelta(days=60), LATEST_SCAN)
                       for _ in range(rng.randrange(6)))
    imaging = [{"date": d.isoformat(), "modality": rng.choice(("CT", "CT", "MRI", "MRI", *MODALITIES))}
               for d in scan_days]
    if imaging and rng.random() < 0.2:  # CT and MRI on one day: the explanation names the first
        imaging.append({"date": imaging[-1]["date"], "modality": "MRI" if imaging[-1]["modality"] == "CT" else "CT"})
    status = rng.choice(["active"] * 6 + ["recurrence", "deceased", "opted_out", "transferred"])
    return record(
        patient_id=rng.choice(["mrn-", "MRN_", "Mrn.", "é", "z"]) + f"{number:05d}",
        name=rng.choice([None, f"Patient {number}", "O'Brien & <Sons>"]),
        birth_date=birth.isoformat(),
        care_team=rng.choice(["gi-onc-east", "gi-onc-west", "endo"]),
        primary_site=rng.choice(PRIMARY_SITES),
        differentiation=rng.choice([None, "well", "well", "well", "poor"]),
        grade=rng.choice([None, 1, 2, 3]),
        ki67_percent=rng.choice([None, 0, 2.5, 3, 5, 5.5, 20, 21.3, 60]),
        tumor_size_mm=rng.choice([None, 5, 9.5, 15, 19.9, 20, 35]),
        nodes_examined=examined,
        nodes_positive=None if rng.random() < 0.15 else rng.randint(0, examined if examined is not None else 3),
        margin=rng.choice([None, "R0", "R0", "R0", "R1", "R2"]),
        hereditary_syndrome=rng.choice([None] * 12 + ["MEN1", "VHL"]),
        resection_date=resection.isoformat(),
        imaging=imaging,
        status=status,
        status_date=None if status == "active" or rng.random() < 0.3
        else random_day(rng, resection, date(2030, 1, 1)).isoformat(),
        guideline=rng.choice([None, None, "nccn", "consensus2018"]),
    )


def generated_cohort(size: int = 200, seed: int = 20261201) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cohort = [random_record(rng, n) for n in range(size)]
    assert all(parse_record(r, BOOK.ids)[0] is not None for r in cohort)
    return cohort


def test_scan_equals_evaluate_on_the_vignettes(migrated_engine: Engine, tmp_path: Path) -> None:
    cases = vignettes()
    import_records(migrated_engine, tmp_path, [case["record"] for case in cases])
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        groups[(case["as_of"], case["default_guideline"])].append(case["record"])
    for (as_of_text, default), records in groups.items():
        as_of = date.fromisoformat(as_of_text)
        ids = {r["patient_id"] for r in records}
        book = BOOK.with_default(default)
        ours = [DUMPS(e.to_dict()) for e in evaluate_cohort(Database(migrated_engine), as_of, book)
                if e.patient_id in ids]
        assert ours == expected(records, as_of, book=book), as_of_text


def test_scan_equals_evaluate_on_a_generated_cohort(migrated_engine: Engine, tmp_path: Path) -> None:
    cohort = generated_cohort()
    import_records(migrated_engine, tmp_path, cohort)
    statuses: set[str] = set()
    for as_of in AS_OF_DATES:
        ours = scanned(migrated_engine, as_of)
        assert ours == expected(cohort, as_of), as_of
        statuses.update(json.loads(line)["status"] for line in ours)
    assert statuses >= {"inactive", "needs_review", "not_due", "due", "overdue", "completed"}


def test_a_patient_without_a_guideline_follows_the_care_teams(migrated_engine: Engine, tmp_path: Path) -> None:
    cohort = generated_cohort(60, seed=7)
    import_records(migrated_engine, tmp_path, cohort)
    team = CareTeam(key="gi-onc-west", name="West", navigators=("nav@hospital.example",), guideline="consensus2018")
    with PatientStore(migrated_engine).transaction() as tx:
        tx.replace_teams([team], utcnow())
    as_of = date(2026, 12, 1)
    assert scanned(migrated_engine, as_of) == expected(cohort, as_of, {"gi-onc-west": "consensus2018"})


def test_the_shards_partition_the_cohort(migrated_engine: Engine, tmp_path: Path) -> None:
    import_records(migrated_engine, tmp_path, generated_cohort(120, seed=3))
    as_of = date(2026, 12, 1)
    whole = scanned(migrated_engine, as_of)
    parts = [scanned(migrated_engine, as_of, shard=k, shards=3) for k in range(3)]
    assert all(parts)
    assert sorted(line for part in parts for line in part) == sorted(whole)
    assert sum(len(part) for part in parts) == len(whole)


@pytest.mark.parametrize("kwargs", [{}, {"team": "gi-onc-east"}, {"shard": 1, "shards": 2}],
                         ids=["all", "team", "shard"])
def test_id_ranges_cut_the_cohort_into_even_parts_in_code_point_order(migrated_engine: Engine, tmp_path: Path,
                                                                      kwargs: dict[str, Any]) -> None:
    """The forked scan's ranges: ascending cuts (ids starting with 'é', 'M', 'm', 'z' sort by code point on
    PostgreSQL too), parts within one of each other in size, and together exactly the whole stream."""
    import_records(migrated_engine, tmp_path, generated_cohort(200, seed=9))
    store, as_of = PatientStore(migrated_engine), date(2026, 12, 1)
    whole = scanned(migrated_engine, as_of, **kwargs)
    cuts = store.id_cuts(5, **kwargs)
    assert len(cuts) == 4 and cuts == sorted(cuts) and len(set(cuts)) == 4
    bounds: list[str | None] = [None, *cuts, None]
    parts = [scanned(migrated_engine, as_of, id_range=pair, **kwargs) for pair in itertools.pairwise(bounds)]
    assert [line for part in parts for line in part] == whole
    step = -(-len(whole) // 5)
    assert [len(part) for part in parts[:-1]] == [step] * 4 and 0 < len(parts[-1]) <= step
    assert store.id_cuts(1, **kwargs) == [] and len(store.id_cuts(10_000, **kwargs)) == len(whole) - 1


def test_a_team_scan_holds_only_that_teams_patients(migrated_engine: Engine, tmp_path: Path) -> None:
    cohort = generated_cohort(80, seed=11)
    import_records(migrated_engine, tmp_path, cohort)
    as_of = date(2026, 12, 1)
    east = [r for r in cohort if r["care_team"] == "gi-onc-east"]
    assert scanned(migrated_engine, as_of, team="gi-onc-east") == expected(east, as_of)


def test_the_whole_cohort_is_read_with_two_queries(sqlite_engine: Engine, tmp_path: Path) -> None:
    import_records(sqlite_engine, tmp_path, generated_cohort(300, seed=5))
    statements: list[str] = []  # as the driver runs them: the scan reads through raw cursors
    event.listen(sqlite_engine, "checkout",
                 lambda dbapi_connection, *args: dbapi_connection.set_trace_callback(statements.append))
    evaluations = list(evaluate_cohort(Database(sqlite_engine), date(2026, 12, 1), BOOK))
    cohort_queries = [s for s in statements if "FROM patients" in s or "FROM imaging_studies" in s]
    assert len(evaluations) == 300 and len(cohort_queries) == 2


def test_an_empty_database_scans_to_nothing(migrated_engine: Engine) -> None:
    assert scanned(migrated_engine, date(2026, 12, 1)) == []


# The command ----------------------------------------------------------------------------------

@pytest.fixture
def cli_database(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A database holding the valid vignettes, behind NETFLOW_DATABASE_URL; returns the JSONL file."""
    monkeypatch.setenv("NETFLOW_DATABASE_URL", sqlite_url)
    path = tmp_path / "vignettes.jsonl"
    path.write_text("".join(json.dumps(case["record"]) + "\n" for case in vignettes()
                            if case["as_of"] == "2026-12-01"), encoding="utf-8")
    assert main(["db", "upgrade"]) == 0
    assert main(["import", str(path)]) == 0
    return path


def test_the_scan_command_prints_what_evaluate_prints(cli_database: Path, capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    capsys.readouterr()
    assert main(["evaluate", str(cli_database), "--as-of", "2026-12-01"]) == 0
    evaluated = sorted((line for line in capsys.readouterr().out.splitlines() if '"status":"invalid"' not in line),
                       key=lambda line: json.loads(line)["patient_id"])
    assert main(["scan", "--as-of", "2026-12-01"]) == 0
    assert capsys.readouterr().out.splitlines() == evaluated


def test_the_table_format_is_a_worklist(cli_database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["scan", "--as-of", "2026-12-01", "--format", "table", "--team", "gi-onc-east"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MRN", "status", "due", "window", "overdue", "risk", "modality"]
    p01 = next(line for line in lines if line.startswith("P01 "))
    assert p01.split() == ["P01", "overdue", "2025-11-02", "-", "2026-05-02", "183", "standard", "CT_or_MRI"]
    assert lines[-1] == f"{len(lines) - 3} patient(s)"


@pytest.mark.parametrize("args", [["--shard", "3", "--shards", "3"], ["--shards", "0"], ["--shard", "-1"]],
                         ids=["shard-too-high", "no-shards", "negative"])
def test_a_shard_outside_the_shards_is_a_usage_error(cli_database: Path, args: list[str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--as-of", "2026-12-01", *args]) == 2
    assert "--shard must be between" in capsys.readouterr().err


# --team ----------------------------------------------------------------------------------------

def test_an_unknown_team_is_a_usage_error_listing_the_known_teams(cli_database: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["scan", "--as-of", "2026-12-01", "--team", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("netflow scan: error: unknown care team 'nope': the known teams are ")
    assert "gi-onc-east" in line


def test_a_configured_team_without_patients_scans_to_nothing(sqlite_engine: Engine, sqlite_url: str) -> None:
    team = CareTeam(key="new-team", name="New", navigators=("nav@hospital.example",))
    with PatientStore(sqlite_engine).transaction() as tx:
        tx.replace_teams([team], utcnow())
    with Installation.from_settings(Settings(database_url=sqlite_url)) as inst:
        assert list(scan(inst, date(2026, 12, 1), team="new-team")) == []


def test_the_known_teams_are_capped_at_twenty(sqlite_engine: Engine, sqlite_url: str, tmp_path: Path) -> None:
    import_records(sqlite_engine, tmp_path, [record(patient_id=f"P{n:02d}", care_team=f"team-{n:02d}")
                                             for n in range(25)])
    with (Installation.from_settings(Settings(database_url=sqlite_url)) as inst,
          pytest.raises(InputError) as raised):
        scan(inst, date(2026, 12, 1), team="nope")
    message = str(raised.value)
    assert "team-19" in message and "team-20" not in message
    assert message.endswith("team-18, team-19 and 5 more")


def test_a_database_without_teams_says_how_to_load_them(sqlite_engine: Engine, sqlite_url: str) -> None:
    with (Installation.from_settings(Settings(database_url=sqlite_url)) as inst,
          pytest.raises(InputError, match="no care team is configured and no patient names one")):
        scan(inst, date(2026, 12, 1), team="nope")


# Workers (NETFLOW_WORKERS) ------------------------------------------------------------------------

def scan_output(monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes], workers: int,
                *args: str) -> bytes:
    monkeypatch.setenv("NETFLOW_WORKERS", str(workers))
    capsysbinary.readouterr()
    assert main(["scan", "--as-of", "2026-12-01", *args]) == 0
    return capsysbinary.readouterr().out


@pytest.mark.parametrize("args", [(), ("--format", "table"), ("--shard", "1", "--shards", "3"),
                                  ("--team", "gi-onc-east")], ids=["jsonl", "table", "shard", "team"])
def test_two_workers_print_byte_for_byte_what_one_prints(database_url: str, tmp_path: Path, args: tuple[str, ...],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    monkeypatch.setenv("NETFLOW_DATABASE_URL", database_url)
    cohort = generated_cohort(400, seed=17)
    assert main(["db", "upgrade"]) == 0
    path = tmp_path / "cohort.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in cohort), encoding="utf-8")
    assert main(["import", str(path)]) == 0

    alone = scan_output(monkeypatch, capsysbinary, 1, *args)
    shared = scan_output(monkeypatch, capsysbinary, 2, *args)

    assert shared == alone and alone.count(b"\n") > 30
    if not args:
        ids = [json.loads(line)["patient_id"] for line in alone.splitlines()]
        assert ids == sorted(ids) and len(ids) == 400


def test_a_worker_that_fails_fails_the_scan_with_its_own_error(sqlite_engine: Engine, tmp_path: Path) -> None:
    from netflow.cohort import evaluate_cohort_forked

    import_records(sqlite_engine, tmp_path, generated_cohort(50, seed=3))

    def explode(evaluation: Evaluation) -> bytes:
        raise ValueError("not this one")

    with pytest.raises(ValueError, match="not this one"):
        list(evaluate_cohort_forked(Database(sqlite_engine), date(2026, 12, 1), BOOK, explode, workers=2))


def test_a_worker_that_dies_stops_the_scan_instead_of_hanging_it(sqlite_engine: Engine, tmp_path: Path) -> None:
    import os

    from netflow.cohort import evaluate_cohort_forked

    import_records(sqlite_engine, tmp_path, generated_cohort(50, seed=3))

    def die(evaluation: Evaluation) -> bytes:
        os._exit(3)

    with pytest.raises(RuntimeError, match="exit code 3"):
        list(evaluate_cohort_forked(Database(sqlite_engine), date(2026, 12, 1), BOOK, die, workers=2))
