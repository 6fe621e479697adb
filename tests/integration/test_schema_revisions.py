"""Safe schema upgrades: every command runs only on the schema revision this netflow ships (head).

A database at an older revision (0001) says to run 'netflow db upgrade'; one a newer netflow upgraded
(a revision this one does not know) is refused by every command, `netflow db upgrade` included, in one
line, exit 2, nothing done. `netflow db backup FILE` copies a SQLite database atomically (never over a
file unless --force) and points PostgreSQL users to pg_dump; `netflow db upgrade` copies a SQLite
database at an older revision beside it first. On SQLite and PostgreSQL where both make sense.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from netflow.adapters.backup import pg_dump_command
from netflow.adapters.db import current_revision, head_revision, known_revisions, make_engine, upgrade
from netflow.cli import exit_code, main
from netflow.config import Settings
from netflow.errors import NotMigrated, SchemaTooNew
from netflow.installation import Installation
from netflow.services.daily import check
from tests.integration.test_upgrade_v2 import V1_REVISION, fill_v1, v1_cohort
from tests.support.cohort import TEAMS_YAML, cohort_records

AS_OF = "2026-12-01"
FUTURE = "0099_from_a_newer_netflow"
NEWER = "was upgraded by a newer netflow"


def stamp(url: str, revision: str) -> None:
    """Pretend another netflow left the database at `revision` (the tables stay as they are)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def count(url: str, table: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def revision_of(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


Use = Callable[[str], None]


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Use:
    """Point the netflow command at a database URL."""
    def point(url: str) -> None:
        monkeypatch.setenv("NETFLOW_DATABASE_URL", url)
        monkeypatch.setenv("NETFLOW_MAIL_FROM", "netflow@hospital.example")
    return point


def fill(url: str, use: Use, tmp_path: Path) -> str:
    """The database at `url` upgraded and holding the care teams and the small cohort, loaded through the
    command, which is pointed at it."""
    use(url)
    assert main(["db", "upgrade"]) == 0
    assert main(["teams", "load", str(teams_file(tmp_path))]) == 0
    assert main(["import", str(write_jsonl(tmp_path / "patients.jsonl", cohort_records()))]) == 0
    return url


@pytest.fixture
def filled(database_url: str, use: Use, tmp_path: Path) -> str:
    """A filled database at head, on SQLite and on PostgreSQL."""
    return fill(database_url, use, tmp_path)


@pytest.fixture
def filled_sqlite(sqlite_url: str, use: Use, tmp_path: Path) -> str:
    """A filled SQLite database at head (backups: PostgreSQL is pg_dump's)."""
    return fill(sqlite_url, use, tmp_path)


def teams_file(tmp_path: Path) -> Path:
    path = tmp_path / "teams.yaml"
    path.write_text(TEAMS_YAML, encoding="utf-8")
    return path


def commands(tmp_path: Path) -> dict[str, list[str]]:
    """Every command that touches the database, with valid arguments (so only the schema can stop it)."""
    more = write_jsonl(tmp_path / "more.jsonl", [{**cohort_records()[0], "patient_id": "MRN0000099"}])
    return {
        "scan": ["scan", "--as-of", AS_OF],
        "remind": ["remind", "--as-of", AS_OF],
        "import": ["import", str(more)],
        "report": ["report", "--as-of", AS_OF],
        "teams load": ["teams", "load", str(teams_file(tmp_path))],
    }


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --- every command checks the revision ------------------------------------------------------------

def test_schema_too_new_is_a_not_migrated_that_exits_2() -> None:
    error = SchemaTooNew("x")
    assert isinstance(error, NotMigrated) and exit_code(error) == 2


@pytest.mark.parametrize("command", ["scan", "remind", "import", "report", "teams load"])
def test_every_command_refuses_a_database_a_newer_netflow_upgraded(
        filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    patients = count(filled, "patients")
    stamp(filled, FUTURE)
    capsys.readouterr()

    assert main(commands(tmp_path)[command]) == 2

    line = one_error_line(capsys)
    assert NEWER in line and f"revision {FUTURE}, unknown to this version whose newest is {head_revision()}" in line
    assert line.endswith("run the newer netflow, or restore a backup")
    assert (count(filled, "patients"), count(filled, "events"), count(filled, "outbox")) == (patients, 0, 0)
    assert revision_of(filled) == FUTURE


def test_db_upgrade_refuses_a_database_a_newer_netflow_upgraded_in_one_line(
        filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    stamp(filled, FUTURE)
    capsys.readouterr()

    assert main(["db", "upgrade"]) == 2

    assert NEWER in one_error_line(capsys)
    assert revision_of(filled) == FUTURE
    if filled.startswith("sqlite"):
        assert not list(Path(filled.removeprefix("sqlite:///")).parent.glob("*.bak"))


def test_the_upgrade_function_itself_refuses_an_unknown_revision(filled: str) -> None:
    stamp(filled, FUTURE)
    with pytest.raises(SchemaTooNew, match=NEWER):
        upgrade(filled)
    assert revision_of(filled) == FUTURE


@pytest.mark.parametrize("command", ["scan", "remind"])
def test_a_database_at_an_older_revision_says_to_upgrade_it(
        database_url: str, use: Use, capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert upgrade(database_url, V1_REVISION) == V1_REVISION
    use(database_url)

    assert main([command, "--as-of", AS_OF]) == 2

    line = one_error_line(capsys)
    assert f"is at schema revision {V1_REVISION}, this netflow needs {head_revision()}" in line
    assert line.endswith("run 'netflow db upgrade'")
    assert revision_of(database_url) == V1_REVISION


def test_a_database_without_a_revision_but_with_tables_is_not_mistaken_for_an_empty_one(
        filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(filled)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()
    capsys.readouterr()
    assert main(["scan", "--as-of", AS_OF]) == 2
    assert "has netflow tables but no schema revision" in one_error_line(capsys)


def test_the_daily_dags_check_refuses_an_unknown_or_older_revision(database_url: str) -> None:
    upgrade(database_url)
    settings = Settings(database_url=database_url, mail_from="netflow@hospital.example")
    with Installation.from_settings(settings) as inst:
        assert check(inst, None, date(2026, 12, 1)).as_of == date(2026, 12, 1)
        stamp(database_url, FUTURE)
        with pytest.raises(SchemaTooNew, match=NEWER):
            check(inst, None, date(2026, 12, 1))
        stamp(database_url, V1_REVISION)  # the label only: enough for the check
        with pytest.raises(NotMigrated, match="run 'netflow db upgrade'") as raised:
            check(inst, None, date(2026, 12, 1))
        assert not isinstance(raised.value, SchemaTooNew)


# --- netflow db backup ----------------------------------------------------------------------------

def test_db_backup_writes_a_readable_copy_and_never_overwrites_one_unless_forced(
        filled_sqlite: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "copies" / "netflow.bak"
    target.parent.mkdir()
    capsys.readouterr()

    assert main(["db", "backup", str(target)]) == 0

    assert f"(schema revision {head_revision()}) written to {target}" in capsys.readouterr().out
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM patients").fetchone() == (len(cohort_records()),)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (head_revision(),)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert sorted(p.name for p in target.parent.iterdir()) == ["netflow.bak"]  # no .partial, no -wal

    before = target.read_bytes()
    write_jsonl(tmp_path / "one.jsonl", [{**cohort_records()[0], "patient_id": "MRN0000100"}])
    assert main(["import", str(tmp_path / "one.jsonl")]) == 0
    capsys.readouterr()
    assert main(["db", "backup", str(target)]) == 2
    assert one_error_line(capsys).endswith(f"{target} already exists: nothing was written (--force overwrites it)")
    assert target.read_bytes() == before

    assert main(["db", "backup", str(target), "--force"]) == 0
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM patients").fetchone() == (len(cohort_records()) + 1,)


def test_a_backup_is_a_database_netflow_reads_as_it_reads_the_original(
        filled_sqlite: str, tmp_path: Path, use: Use, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "copy.db"
    assert main(["db", "backup", str(target)]) == 0
    capsys.readouterr()
    assert main(["scan", "--as-of", AS_OF]) == 0
    original = capsys.readouterr().out
    use(f"sqlite:///{target}")
    assert main(["scan", "--as-of", AS_OF]) == 0
    assert capsys.readouterr().out == original and original


def test_a_backup_taken_during_a_write_transaction_holds_only_what_was_committed(
        sqlite_url: str, tmp_path: Path) -> None:
    from netflow.services.database import backup_database

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO runs (run_id, as_of, started_at) "
                              "VALUES ('committed', '2026-12-01', '2026-12-01 06:00:00+00:00')"))
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO runs (run_id, as_of, started_at) "
                              "VALUES ('in-flight', '2026-12-01', '2026-12-01 06:00:00+00:00')"))
            backup_database(sqlite_url, tmp_path / "online.bak")
    finally:
        engine.dispose()
    with sqlite3.connect(tmp_path / "online.bak") as copy:
        assert copy.execute("SELECT run_id FROM runs").fetchall() == [("committed",)]
    assert count(sqlite_url, "runs") == 2


def test_db_backup_of_postgresql_gives_the_pg_dump_command_without_the_password(
        postgres_url: str, use: Use, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:s3cr%40t@")
    use(with_password)
    target = tmp_path / "netflow.dump"

    assert main(["db", "backup", str(target)]) == 2

    line = one_error_line(capsys)
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    assert line.endswith(f"pg_dump --format=custom --file={target} '{plain}'")
    assert "s3cr" not in line and not target.exists()


def test_the_pg_dump_command_quotes_what_the_shell_would_split() -> None:
    command = pg_dump_command("postgresql+psycopg://u:pw@db.example:5433/net flow?sslmode=require", "my dump")
    assert command == ("pg_dump --format=custom '--file=my dump' "
                       "'postgresql://u@db.example:5433/net flow?sslmode=require'")


def test_db_backup_refuses_what_it_cannot_copy_and_leaves_nothing_behind(
        tmp_path: Path, use: Use, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "copy.bak"
    use(f"sqlite:///{tmp_path / 'missing.db'}")
    assert main(["db", "backup", str(target)]) == 2
    assert "there is no database file at" in one_error_line(capsys)
    assert not (tmp_path / "missing.db").exists()

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, only some bytes " * 200)
    use(f"sqlite:///{garbage}")
    assert main(["db", "backup", str(target)]) == 2
    assert f"cannot back up {garbage} to {target}" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.db"]

    use(f"sqlite:///{tmp_path / 'netflow.db'}")
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["db", "backup", str(tmp_path / "no-such-folder" / "copy.bak")]) == 2
    assert "cannot back up" in one_error_line(capsys)
    assert main(["db", "backup", str(tmp_path / "netflow.db"), "--force"]) == 2
    assert "is the database itself" in one_error_line(capsys)


# --- netflow db upgrade backs up first --------------------------------------------------------------

def at_v1(url: str, use: Use) -> str:
    """The database at `url` at revision 0001 holding the v1 cohort, the command pointed at it."""
    assert upgrade(url, V1_REVISION) == V1_REVISION
    engine = make_engine(url)
    try:
        fill_v1(engine, v1_cohort())
    finally:
        engine.dispose()
    use(url)
    return url


@pytest.fixture
def v1_sqlite(sqlite_url: str, use: Use) -> str:
    """A v1 SQLite database at revision 0001."""
    return at_v1(sqlite_url, use)


def test_db_upgrade_of_an_older_sqlite_database_writes_a_backup_of_it_first(
        v1_sqlite: str, capsys: pytest.CaptureFixture[str]) -> None:
    database = Path(v1_sqlite.removeprefix("sqlite:///"))

    assert main(["db", "upgrade"]) == 0

    out = capsys.readouterr().out.splitlines()
    backups = list(database.parent.glob(f"{database.name}.before-{V1_REVISION}-*.bak"))
    assert len(backups) == 1
    assert re.fullmatch(rf"{re.escape(database.name)}\.before-0001-\d{{8}}T\d{{6}}Z\.bak", backups[0].name)
    assert out == [f"backup written to {backups[0]}",
                   f"database {v1_sqlite} upgraded from schema revision {V1_REVISION} to {head_revision()}"]
    with sqlite3.connect(backups[0]) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (V1_REVISION,)
        assert copy.execute("SELECT count(*) FROM patients").fetchone() == (len(v1_cohort()),)
        assert "resection_type" not in {row[1] for row in copy.execute("PRAGMA table_info(patients)")}
    assert revision_of(v1_sqlite) == head_revision() and count(v1_sqlite, "patients") == len(v1_cohort())

    assert main(["db", "upgrade"]) == 0  # at head: nothing to back up
    assert capsys.readouterr().out == f"database {v1_sqlite} is at schema revision {head_revision()}\n"
    assert len(list(database.parent.glob("*.bak"))) == 1


def test_db_upgrade_no_backup_skips_the_sqlite_copy(v1_sqlite: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--no-backup"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"database {v1_sqlite} upgraded from schema revision {V1_REVISION} to {head_revision()}"]
    assert not list(Path(v1_sqlite.removeprefix("sqlite:///")).parent.glob("*.bak"))
    assert revision_of(v1_sqlite) == head_revision()


@pytest.mark.postgres
@pytest.mark.parametrize("options", [[], ["--no-backup"]], ids=["default", "no-backup"])
def test_db_upgrade_of_an_older_postgresql_database_recommends_pg_dump(
        postgres_url: str, use: Use, capsys: pytest.CaptureFixture[str], options: list[str]) -> None:
    upgrade(postgres_url, V1_REVISION)
    use(postgres_url)

    assert main(["db", "upgrade", *options]) == 0

    out = capsys.readouterr().out.splitlines()
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    assert out[0] == ("no backup made: netflow does not copy PostgreSQL databases; take one with pg_dump before "
                      f"upgrading: pg_dump --format=custom --file=netflow-before-{V1_REVISION}.dump '{plain}'")
    assert out[1] == f"database {postgres_url} upgraded from schema revision {V1_REVISION} to {head_revision()}"
    assert revision_of(postgres_url) == head_revision()


def test_a_new_database_is_created_without_a_backup(sqlite_url: str, use: Use,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    use(sqlite_url)
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"database {sqlite_url} is at schema revision {head_revision()}\n"
    assert not list(Path(sqlite_url.removeprefix("sqlite:///")).parent.glob("*.bak"))


def test_every_shipped_revision_is_known_and_head_is_one_of_them() -> None:
    assert head_revision() in known_revisions() and V1_REVISION in known_revisions()
    assert FUTURE not in known_revisions()
