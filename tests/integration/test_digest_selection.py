"""The digest selected in SQL (`LedgerWriter.digest_batches`) equals the reference selection of
netflow.domain.digest_sections for the same events, on SQLite and PostgreSQL; one UPDATE puts the
events read in their team's digest and nothing else (issue 13 item 3)."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from netflow.adapters.database import Database
from netflow.adapters.db import upgrade
from netflow.adapters.rendering import render_digest
from netflow.adapters.tables import events
from netflow.domain.digest import DigestItem, Selection, WorklistTotals, build_digest, select_items
from netflow.domain.events import NewEvent
from tests.support.digests import NCCN, ref_of

D = date(2026, 12, 1)
TEAMS = ("gi-onc-east", "endo-north", "hpb-west")
# Patient ids that sort differently by code point than by a locale's collation, and look alike.
IDS = ["MRN-001", "mrn-001", "MRN-01", "Ärzte-7", "Z-9", "a-9", "李-3", "MRN-010", "mrn-002", "_x"]


def payload(rng: random.Random, patient_id: str, kind: str) -> dict[str, Any]:
    opens = D - timedelta(days=rng.choice([0, 30, 200, 400]))
    closes = opens + timedelta(days=rng.choice([0, 0, 180]))
    windowless = rng.random() < 0.2
    return {
        "patient_id": patient_id, "as_of": D.isoformat(), "guideline": "nccn", "rule_id": "nccn/pancreas/standard",
        "status": "overdue" if kind in ("overdue", "escalated") else kind,
        # Few distinct values, so that rows tie on urgency and the MRN and ledger order decide.
        "days_overdue": rng.choice([0, 40, 364, 365, 366, 500]) if kind in ("overdue", "escalated") else 0,
        "escalation_level": rng.choice([None, 1, 2]) if kind in ("overdue", "escalated") else 0,
        "window_open": None if windowless else opens.isoformat(),
        "window_close": None if windowless or rng.random() < 0.1 else closes.isoformat(),
        "risk_tier": rng.choice(["standard", "high"]), "risk_reasons": [], "explanation": f"{kind} for {patient_id}",
    }


def varied_events(seed: int, count: int) -> list[NewEvent]:
    """Events of every kind over three teams: several per patient (plan changes, high-risk flags with and
    without another row), ties, missing windows, a year overdue and just under."""
    rng = random.Random(seed)
    kinds = ["escalated", "overdue", "due", "due_soon", "high_risk", "high_risk", "needs_review", "not_indicated",
             "plan_changed", "booking_lapsed", "closed"]
    found = []
    for n in range(count):
        team = rng.choice(TEAMS)
        patient_id = f"{rng.choice(IDS)}/{rng.randrange(count // 4)}"
        kind = rng.choice(kinds)
        found.append(NewEvent(patient_id, team, kind, f"{n}", None, payload(rng, patient_id, kind)))
    return found


@pytest.fixture
def db(database_url: str) -> Database:
    upgrade(database_url)
    return Database.open(database_url)


def reference(db: Database, team: str, max_rows: int) -> Selection:
    """The old way: read back and decode every unassigned event of the team, then select in Python."""
    e = events.c
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(e.id, e.kind, e.patient_id, e.payload)
            .where(e.care_team == team, e.outbox_id.is_(None), e.kind != "closed").order_by(e.id)).all()
    return select_items([DigestItem(kind, pid, None, json.loads(p), order=i) for i, kind, pid, p in rows], max_rows)


def shown(selection: Selection) -> dict[str, list[tuple[str, int]]]:
    return {key: [(item.patient_id, item.order) for item in items] for key, items in selection.rows.items()}


def rendered(team: str, selection: Selection, max_rows: int) -> tuple[str, str]:
    rows = {key: tuple(DigestItem(i.kind, i.patient_id, "Ana Test", i.evaluation, ref_of(i.patient_id), i.order)
                       for i in items) for key, items in selection.rows.items()}
    digest = build_digest(team_key=team, team_name=team, as_of=D, run_id="r", totals=WorklistTotals(),
                          rulesets=[NCCN], worklist_url="https://n.example/netflow/", max_rows=max_rows,
                          selection=Selection(rows, selection.counts, selection.flagged, selection.high_risk_flags))
    return render_digest(digest)


@pytest.mark.parametrize("max_rows", [3, 20])
def test_the_set_based_selection_equals_the_reference_over_a_varied_cohort(db: Database, max_rows: int) -> None:
    with db.transaction() as tx:
        tx.ledger.record_events(varied_events(seed=13, count=300), D, "day-1")
        through = tx.ledger.digest_batches(TEAMS, max_rows)["endo-north"].through
        outbox_id = tx.outbox.create_outbox_message(
            kind="team_digest", team_key="endo-north", run_id="day-1", as_of=D, message_id="<1@n.example>",
            subject="s", sender="n@n.example", to=["a@n.example"], cc=[], body_text="t", body_html="h")
        tx.ledger.attach_digest_events({"endo-north": outbox_id}, through)  # day 1's digest of one team
        tx.ledger.record_events(varied_events(seed=14, count=300), D + timedelta(days=1), "day-2")

    with db.transaction() as tx:
        batches = tx.ledger.digest_batches(TEAMS, max_rows)

    assert set(batches) == set(TEAMS)
    for team in TEAMS:
        expected, found = reference(db, team, max_rows), batches[team].selection
        assert shown(found) == shown(expected), team
        assert found.counts == expected.counts, team
        assert found.high_risk_flags == expected.high_risk_flags, team
        assert rendered(team, found, max_rows) == rendered(team, expected, max_rows), team
    assert sum(len(items) for b in batches.values() for items in b.selection.rows.values()) > 3 * 5
    assert any(b.selection.flagged for b in batches.values())
    assert any("overdue_year" in b.selection.rows for b in batches.values())
    db.dispose()


def test_the_selection_equals_the_reference_for_a_section_of_thousands_of_events(
        db: Database) -> None:
    rng = random.Random(8)
    crowd = [NewEvent(pid, "gi-onc-east", kind, "k", None, payload(rng, pid, kind))
             for n in range(2500) for pid in [f"{rng.choice(IDS)}/{n}"] for kind in [rng.choice(["overdue", "due"])]]
    with db.transaction() as tx:
        tx.ledger.record_events(crowd, D, "day-1")
        batch = tx.ledger.digest_batches(["gi-onc-east"], 3)["gi-onc-east"]

    expected = reference(db, "gi-onc-east", 3)
    assert shown(batch.selection) == shown(expected)
    assert batch.selection.counts == expected.counts and max(expected.counts.values()) > 1100
    db.dispose()


def test_one_update_puts_the_events_read_in_their_teams_digest_and_nothing_else(db: Database) -> None:
    new = varied_events(seed=5, count=120)
    with db.transaction() as tx:
        tx.ledger.record_events(new, D, "r1")
        batches = tx.ledger.digest_batches(["gi-onc-east", "hpb-west"], 20)
        later = NewEvent("MRN-late", "gi-onc-east", "due", "late", None, {"status": "due"})
        tx.ledger.record_events([later], D, "r2")  # recorded after the digest was selected
        digests = {}
        for n, team in enumerate(("gi-onc-east", "hpb-west"), start=1):
            digests[team] = tx.outbox.create_outbox_message(
                kind="team_digest", team_key=team, run_id="r1", as_of=D, message_id=f"<{n}@n.example>", subject="s",
                sender="n@n.example", to=["a@n.example"], cc=[], body_text="t", body_html="h")

        attached = tx.ledger.attach_digest_events(digests, max(b.through for b in batches.values()))

    e = events.c
    with db.engine.connect() as conn:
        rows = conn.execute(select(e.patient_id, e.care_team, e.kind, e.outbox_id)).all()
    put = [(team, kind, outbox) for pid, team, kind, outbox in rows if pid != "MRN-late"]
    assert attached == sum(1 for team, kind, _ in put if team in digests and kind != "closed") > 0
    assert all(outbox == digests[team] for team, kind, outbox in put if team in digests and kind != "closed")
    assert all(outbox is None for team, kind, outbox in put if team not in digests or kind == "closed")
    assert [outbox for pid, *_, outbox in rows if pid == "MRN-late"] == [None]
    db.dispose()
