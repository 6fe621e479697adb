"""The netflow command turns netflow's own errors into one line and an exit status; a bug keeps its traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from netflow.cli import UsageError, exit_code, main
from netflow.config import ConfigError
from netflow.errors import (
    CohortError,
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailable,
    DeliveryError,
    InputError,
    NetflowError,
    NotMigrated,
)
from netflow.guidelines import RuleSetError
from netflow.guidelines.teams import TeamsError
from netflow.imports.formats import SourceError


def failing_scan(error: BaseException) -> Callable[..., int]:
    def run(_args: object) -> int:
        raise error
    return run


@pytest.fixture
def scan_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[BaseException], int]:
    """Run `netflow scan` with its handler replaced by one that raises `error`; return the exit status."""
    monkeypatch.setenv("NETFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'netflow.db'}")

    def run(error: BaseException) -> int:
        monkeypatch.setattr("netflow.cli.scan.run", failing_scan(error))
        return main(["scan", "--as-of", "2026-12-01"])
    return run


@pytest.mark.parametrize("error", [
    ConfigError("NETFLOW_SHARDS must be a whole number, got 'x'"),
    RuleSetError("local.yaml", ["rule 1: missing 'interval'"]),
    TeamsError("teams.yaml", ["team 'x', navigators: a team needs at least one valid navigator address"]),
    CohortError("care team(s) x name a guideline this installation does not have"),
    SourceError("cannot read x.csv: no such file"),
    UsageError("--eml-dir goes with --dry-run"),
    NotMigrated("the database at sqlite:///x has no netflow tables; run 'netflow db upgrade' first"),
    DatabaseUnavailable("cannot open the database at postgresql://h/db: OperationalError"),
], ids=lambda e: type(e).__name__)
def test_an_error_that_stopped_the_command_before_it_did_anything_exits_2_with_one_line(
        error: NetflowError, scan_raises: Callable[[BaseException], int], capsys: pytest.CaptureFixture[str]) -> None:
    assert scan_raises(error) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"netflow scan: error: {str(error).splitlines()[0]}")
    assert "Traceback" not in err


def test_a_database_lost_mid_command_exits_1_and_says_to_run_it_again(
        scan_raises: Callable[[BaseException], int], capsys: pytest.CaptureFixture[str]) -> None:
    assert scan_raises(DatabaseError("OperationalError", "server closed the connection unexpectedly")) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("netflow scan: error: the patient database failed mid-run (OperationalError: server")
    assert lines[0].endswith("what was committed is kept: run the same command again")


def test_a_driver_error_raised_inside_a_command_is_scrubbed_into_one_line(
        scan_raises: Callable[[BaseException], int], capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy.exc import OperationalError

    raw = OperationalError("SELECT name FROM patients WHERE patient_id = ?", {"patient_id": "MRN0000001"},
                           Exception("disk I/O error"))
    assert scan_raises(raw) == 1
    err = capsys.readouterr().err
    assert "disk I/O error" in err and "MRN0000001" not in err and "SELECT" not in err


def test_any_other_exception_is_a_bug_and_keeps_its_traceback(
        scan_raises: Callable[[BaseException], int]) -> None:
    with pytest.raises(ZeroDivisionError):
        scan_raises(ZeroDivisionError("a bug"))


def test_a_plain_value_error_is_not_mistaken_for_a_usage_error(scan_raises: Callable[[BaseException], int]) -> None:
    with pytest.raises(ValueError, match="not a usage error"):
        scan_raises(ValueError("not a usage error"))


@pytest.mark.parametrize(("error", "code"), [
    (ConfigurationError("x"), 2), (InputError("x"), 2), (NotMigrated("x"), 2), (DatabaseUnavailable("x"), 2),
    (DatabaseError("OperationalError", "x"), 1), (DeliveryError(True, "x"), 1),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v))
def test_each_branch_of_the_error_tree_has_its_exit_status(error: NetflowError, code: int) -> None:
    assert exit_code(error) == code


def test_configuration_and_input_errors_are_value_errors_and_every_error_is_a_netflow_error() -> None:
    for error in (ConfigError("x"), RuleSetError("f", ["p"]), TeamsError("f", ["p"]), SourceError("x")):
        assert isinstance(error, NetflowError) and isinstance(error, ValueError)
    for error in (DeliveryError(False, "x"), DatabaseError("k", "m"), NotMigrated("m")):
        assert isinstance(error, NetflowError) and not isinstance(error, ValueError)
