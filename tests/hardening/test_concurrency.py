"""Two `netflow remind` runs for the same date started at the same moment (a manual run beside the
scheduled one, two schedulers after a failover): no event twice, no email twice.

Recording is idempotent by the database's unique keys; building and sending each take a lock
(netflow/adapters/locks.py), so the second run finds nothing left to build or send.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netflow.cli import main
from tests.hardening.conftest import (
    CueHandler,
    DemoFiles,
    assert_each_team_delivered_once,
    copy_database,
    load_demo,
    netflow_env,
    read_ledger,
    start,
)
from tests.support.smtp import SmtpTestServer

DATES = ("2026-12-01", "2027-02-01")


def expected_events(url: str, as_of: str, capsys: pytest.CaptureFixture[str]) -> int:
    """What one run alone would record on `as_of` (a dry run records nothing)."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETFLOW_DATABASE_URL", url)
        assert main(["remind", "--as-of", as_of, "--allow-future", "--dry-run"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("events: "))
    return sum(int(n) for n in re.findall(r"(\d+) \w+", line))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_url(request: pytest.FixtureRequest, demo_files: DemoFiles, demo_sqlite: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return copy_database(demo_sqlite, tmp_path / "db")
    url: str = request.getfixturevalue("postgres_url")
    load_demo(url, demo_files)
    return url


def test_two_runs_of_the_same_date_at_once_record_each_event_once_and_send_each_digest_once(
        demo_url: str, slow_smtp: SmtpTestServer, capsys: pytest.CaptureFixture[str]) -> None:
    handler = slow_smtp.handler
    assert isinstance(handler, CueHandler)
    handler.delay = 0.05  # both runs are still sending when the other one looks
    env = netflow_env(NETFLOW_DATABASE_URL=demo_url, NETFLOW_SMTP_URL=slow_smtp.url)
    recorded = 0
    for as_of in DATES:
        alone = expected_events(demo_url, as_of, capsys)

        pair = [start("remind", "--as-of", as_of, "--allow-future", "--run-id", f"{tag}-{as_of}", env=env)
                for tag in "ab"]
        outputs = [p.communicate(timeout=60) for p in pair]
        results = [(p.returncode, out, err) for p, (out, err) in zip(pair, outputs, strict=True)]

        assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
        ledger = read_ledger(demo_url)
        recorded += alone
        assert ledger.events == recorded, f"{as_of}: {ledger.events} events, one run alone records {recorded}"
        assert ledger.unassigned == 0
        assert assert_each_team_delivered_once(ledger, slow_smtp) == 0
        sent_by = [int(re.search(r"sent: (\d+)", out).group(1)) for _, out, _ in results]  # type: ignore[union-attr]
        assert sum(sent_by) == len([row for row in ledger.outbox if row["as_of"].isoformat() == as_of])
