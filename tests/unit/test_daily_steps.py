"""The daily run's plan and summary: the as-of date settled once, the shards' counts added up once."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from netflow.config import ConfigError, Settings
from netflow.errors import InputError
from netflow.installation import Installation, load_book
from netflow.services.daily import DailyPlan, RunSummary, parse_as_of, recorded_on, team_totals

D = date(2026, 12, 1)


def shard(evaluated: int, events: dict[str, int], teams: dict[str, dict[str, int]], as_of: str = "2026-12-01"
          ) -> dict[str, Any]:
    return {"as_of": as_of, "evaluated": evaluated, "by_status": {"due": evaluated}, "events": events,
            "teams": teams, "replay": False}


def test_the_plan_gives_each_shard_the_same_as_of_date() -> None:
    assert DailyPlan(D, 3).as_counts() == [{"as_of": "2026-12-01", "shard": k, "shards": 3} for k in range(3)]


@pytest.mark.parametrize("text", ["2026-13-01", "June 1st", "2026-12-1", " "], ids=repr)
def test_a_mistyped_as_of_is_an_input_error_naming_the_format(text: str) -> None:
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        parse_as_of(text)


def test_the_shards_were_recorded_on_one_date() -> None:
    assert recorded_on([shard(1, {}, {}), shard(2, {}, {})]) == D
    with pytest.raises(ValueError, match="2 different dates"):
        recorded_on([shard(1, {}, {}), shard(2, {}, {}, as_of="2026-12-02")])


def test_team_totals_add_up_over_the_shards() -> None:
    parts = [shard(1, {}, {"a": {"due": 1}}), shard(2, {}, {"a": {"due": 2, "overdue": 1}, "b": {"due": 1}})]
    assert team_totals(parts) == {"a": {"due": 3, "overdue": 1}, "b": {"due": 1}}


def test_the_run_summary_adds_the_shards_to_the_build_and_send_counts() -> None:
    parts = [shard(3, {"due": 2}, {}), shard(4, {"due": 1, "overdue": 1}, {})]
    summary = RunSummary.of(D, parts, {"digests": 2, "steward_digests": 1, "waiting_teams": {"z": 4}},
                            {"sent": 3, "retrying": 0, "failed": 0})

    assert summary.as_counts() == {
        "as_of": "2026-12-01", "evaluated": 7, "by_status": {"due": 7}, "events": {"due": 3, "overdue": 1},
        "digests": 2, "steward_digests": 1, "waiting_teams": {"z": 4}, "sent": 3, "retrying": 0, "failed": 0,
        "dry_run": False,
    }
    assert "patients evaluated   7" in summary.table() and "3 / 0 / 0" in summary.table()


def test_an_installation_refuses_an_unknown_default_guideline(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}", default_guideline="esmo-local")
    with pytest.raises(ConfigError, match="unknown guideline 'esmo-local'; known: nccn, consensus2018"):
        Installation.from_settings(settings)


def test_an_installation_connects_to_nothing_until_asked(tmp_path: Path) -> None:
    path = tmp_path / "later" / "n.db"
    with Installation.from_settings(Settings(database_url=f"sqlite:///{path}")) as inst:
        assert inst.book.default == "nccn" and not path.exists()


def test_the_mailer_is_checked_when_asked_for(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}", smtp_url="smtp://mail.example.org:25")
    with Installation.from_settings(settings) as inst, pytest.raises(ConfigError, match="unencrypted"):
        inst.mailer()


def test_the_cli_and_the_installation_load_the_same_book() -> None:
    settings = Settings(database_url="sqlite://", default_guideline="consensus2018")
    assert load_book(settings).default == "consensus2018"
    assert load_book(settings, "nccn").default == "nccn"
