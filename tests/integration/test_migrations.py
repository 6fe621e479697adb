"""`netflow db upgrade`: the migrations build exactly the schema of tables.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from netflow.adapters.db import current_revision, head_revision, make_engine, upgrade
from netflow.adapters.patients import PatientStore
from netflow.adapters.tables import metadata, utcnow
from netflow.cli import main
from netflow.domain.teams import CareTeam


def drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, metadata))


def test_upgrading_an_empty_database_builds_the_schema_without_drift(database_url: str) -> None:
    revision = upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert revision == head_revision()
        assert drift(engine) == []
        assert set(inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO runs (run_id, as_of, started_at) "
                              "VALUES ('r1', '2026-12-01', '2026-12-01 06:00:00+00:00')"))
        assert upgrade(database_url) == head_revision()
        assert current_revision(engine) == head_revision()
        assert drift(engine) == []
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 1
    finally:
        engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 5000
    finally:
        engine.dispose()


def test_deleting_a_care_team_deletes_its_members(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO care_teams (key, name, updated_at) "
                              "VALUES ('t1', 'Team', '2026-01-01 00:00:00+00:00')"))
            conn.execute(text("INSERT INTO team_members (team_key, role, email) "
                              "VALUES ('t1', 'navigator', 'a@hospital.example')"))
            conn.execute(text("DELETE FROM care_teams WHERE key = 't1'"))
            assert conn.execute(text("SELECT count(*) FROM team_members")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_teams_users_and_fhir_identifiers_are_stored_and_replaced(database_url: str) -> None:
    upgrade(database_url)
    store = PatientStore(make_engine(database_url))
    try:
        team = CareTeam("t1", "Team", navigators=("a@hospital.example",), users=("jdoe", "asmith"),
                        fhir=("urn:oid:1.2.3|ct-1",))
        with store.transaction() as writer:
            writer.replace_teams([team], utcnow())
        assert store.care_teams() == {"t1": team}
        fewer = CareTeam("t1", "Team", navigators=("a@hospital.example",), users=("asmith",))
        with store.transaction() as writer:
            writer.replace_teams([fewer], utcnow())
        assert store.care_teams() == {"t1": fewer}
    finally:
        store.engine.dispose()


def test_db_upgrade_creates_the_sqlite_folder_and_reports_the_revision(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "var" / "netflow.db"
    monkeypatch.setenv("NETFLOW_DATABASE_URL", f"sqlite:///{database}")
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "upgrade"]) == 0
    assert database.is_file()
    assert f"schema revision {head_revision()}" in capsys.readouterr().out


def test_commands_on_a_database_never_upgraded_say_to_upgrade_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["scan", "--as-of", "2026-12-01"]) == 2
    assert "run 'netflow db upgrade' first" in capsys.readouterr().err
