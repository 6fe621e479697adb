"""A team of 2,000 patients: the worklist lists every one, and its totals equal `netflow scan --team`'s
and the overview's, status by status (the 100-row cap of issue 14 is gone).

netflow demo-data makes about 2% of its rows invalid on purpose; those are quarantined on import, so
the team holds a little under 2,000 stored patients, all of which the worklist must list. Each test runs
twice: before any daily run (the team evaluated whole) and after one (the pages read from the kept
standings, patient_state, the data stamped a day before the run as a daily import is)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from netflow.cli import main as netflow
from netflow.config import Settings
from netflow.installation import Installation
from netflow.reminders.recording import record_run
from netflow.services.scan import scan
from netflow.services.worklist import WorklistQuery, _from_standings
from tests.ui.test_worklist_app import Admin, mounted

AS_OF = date(2026, 12, 1)
TEAM = "gi-onc-east"


@pytest.fixture(scope="module")
def big_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """2,000 synthetic patients (netflow demo-data), every one in gi-onc-east."""
    tmp = tmp_path_factory.mktemp("big-team")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("NETFLOW_DATABASE_URL", f"sqlite:///{tmp / 'netflow.db'}")
        assert netflow(["db", "upgrade"]) == 0
        assert netflow(["demo-data", "--patients", "2000", "--seed", "11", "--as-of", AS_OF.isoformat(),
                        "--out", str(tmp / "patients.jsonl"), "--teams-out", str(tmp / "teams.yaml")]) == 0
        assert netflow(["teams", "load", str(tmp / "teams.yaml")]) == 0
        lines = (tmp / "patients.jsonl").read_text(encoding="utf-8").splitlines()
        one_team = [json.dumps({**json.loads(line), "care_team": TEAM}) for line in lines if line.strip()]
        Path(tmp / "team.jsonl").write_text("\n".join(one_team) + "\n", encoding="utf-8")
        assert netflow(["import", str(tmp / "team.jsonl")]) == 0
        yield Settings.from_env()


@pytest.fixture(scope="module", params=["before any daily run", "after a daily run"])
def team_db(request: pytest.FixtureRequest, big_team: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The big team's database as it is, or a copy of it with the data stamped a day earlier and a daily run."""
    if request.param == "before any daily run":
        return big_team
    path = tmp_path_factory.mktemp("daily") / "netflow.db"
    shutil.copyfile(big_team.database_url.removeprefix("sqlite:///"), path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE patients SET updated_at = datetime(updated_at, '-1 day')")
        conn.execute("UPDATE imaging_studies SET created_at = datetime(created_at, '-1 day')")
    settings = dataclasses.replace(big_team, database_url=f"sqlite:///{path}")
    with Installation.from_settings(settings) as inst:
        record_run(inst.db, inst.book, AS_OF, "daily")
        assert _from_standings(inst, TEAM, AS_OF, WorklistQuery()) is not None
        since = inst.db.state.last_check()
        assert since is not None and not inst.db.state.changed_since(TEAM, since)
    return settings


def total(client: TestClient, **params: str) -> int:
    response = client.get(f"/netflow/api/teams/{TEAM}/worklist",
                          params={"as_of": AS_OF.isoformat(), "page_size": "1", **params})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def test_the_worklist_totals_of_a_team_of_2000_equal_the_scans_counts_per_status(team_db: Settings) -> None:
    with Installation.from_settings(team_db) as inst:
        scanned = Counter(ev.status for ev in scan(inst, AS_OF, team=TEAM))
    client = mounted(team_db, Admin())

    assert 1900 < sum(scanned.values()) == total(client)
    assert max(scanned.values()) > 100  # a status the old 100-row cap would have cut short
    assert total(client, status="overdue") + total(client, status="escalated") == scanned["overdue"]
    for status in ("due", "due_soon", "not_due", "needs_review", "not_indicated", "completed", "inactive",
                   "invalid"):
        assert total(client, status=status) == scanned[status], status
    page = client.get(f"/netflow/api/teams/{TEAM}/worklist", params={"as_of": AS_OF.isoformat()}).json()
    overview = client.get("/netflow/api/overview", params={"as_of": AS_OF.isoformat()}).json()
    bars = next(t for t in overview["teams"] if t["team"]["key"] == TEAM)["worklist"]
    assert {k: page["counts"][k] for k in ("escalated", "overdue", "due_soon", "not_due", "needs_review",
                                           "not_indicated")} == {k: bars[k] for k in (
        "escalated", "overdue", "due_soon", "not_due", "needs_review", "not_indicated")}
    assert page["counts"]["due"] == bars["due_now"]
    assert len(page["rows"]) == 50 and page["pages"] == -(-page["total"] // 50)


def test_every_patient_of_the_team_can_be_paged_through_once(team_db: Settings) -> None:
    client = mounted(team_db, Admin())
    with Installation.from_settings(team_db) as inst:
        stored = len(inst.db.patients.team_patient_names(TEAM))

    seen = []
    for number in range(1, 5):
        page = client.get(f"/netflow/api/teams/{TEAM}/worklist",
                          params={"as_of": AS_OF.isoformat(), "page": str(number), "page_size": "500"}).json()
        seen += [row["patient_id"] for row in page["rows"]]

    assert len(seen) == len(set(seen)) == stored > 1900
