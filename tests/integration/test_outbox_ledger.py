"""The outbox questions (adapters/outbox.py) on SQLite and PostgreSQL: note an error without counting, list,
requeue failed messages with who and when (issue 16); the ledger records each event once."""

from __future__ import annotations

import json
from datetime import date
from typing import cast

import pytest
from sqlalchemy import select

from netflow.adapters.database import Database
from netflow.adapters.db import upgrade
from netflow.adapters.tables import events
from netflow.domain.events import NewEvent
from netflow.errors import InputError
from netflow.installation import Installation
from netflow.services.outbox import counts, listing, retry

D = date(2026, 12, 1)


class Inst:
    """The part of an Installation the outbox use cases read: its database."""

    def __init__(self, db: Database) -> None:
        self.db = db


@pytest.fixture
def db(database_url: str) -> Database:
    upgrade(database_url)
    database = Database.open(database_url)
    with database.transaction() as tx:
        for n in (1, 2, 3):
            tx.outbox.create_outbox_message(
                kind="team_digest", team_key=f"team-{n}", run_id="r1", as_of=D, message_id=f"<digest-{n}@h.example>",
                subject=f"NET surveillance - Team {n}: 1 due", sender="netflow@h.example", to=["nav@h.example"],
                cc=[], body_text="body", body_html="<p>x</p>")
    return database


def test_noting_an_error_keeps_status_and_attempts(db: Database) -> None:
    db.outbox.mark_attempt_failed(1, "451 later", 5)

    db.outbox.note_error([1, 2], "could not connect to SMTP server x:25 (connection refused)")

    found = {e.id: e for e in db.outbox.outbox_entries(("pending",), 10)}
    assert [(found[i].status, found[i].attempts) for i in (1, 2, 3)] == [("pending", 1), ("pending", 0),
                                                                         ("pending", 0)]
    assert found[1].last_error == found[2].last_error == "could not connect to SMTP server x:25 (connection refused)"
    assert found[3].last_error is None
    db.dispose()


def test_requeue_puts_only_failed_messages_back_and_records_who_and_when(db: Database) -> None:
    inst = cast(Installation, Inst(db))
    for _ in range(2):
        db.outbox.mark_attempt_failed(1, "554 refused", 2)
    db.outbox.mark_attempt_failed(2, "554 refused", 1)
    db.outbox.mark_sent(3)
    assert counts(inst) == {"pending": 0, "sent": 1, "failed": 2}

    with pytest.raises(InputError, match="3 is sent"):
        retry(inst, [1, 3], by="ops")
    assert counts(inst)["failed"] == 2

    done = retry(inst, None, by="  dr.\nops ")

    assert done.requeued == [1, 2] and done.by == "dr. ops"
    entries = {e.id: e for e in listing(inst).entries}
    assert sorted(entries) == [1, 2]
    first = entries[1]
    assert (first.status, first.attempts, first.requeued_by) == ("pending", 0, "dr. ops")
    assert first.requeued_at is not None and first.requeued_at.tzinfo is not None
    assert first.last_error is not None and first.last_error.startswith("requeued by dr. ops at ")
    assert first.last_error.endswith("UTC after 2 attempt(s); before: 554 refused")
    assert retry(inst, None, by="ops").requeued == []
    db.dispose()


def test_recording_events_another_run_recorded_returns_only_the_new_ones(db: Database) -> None:
    def due(pid: str, note: str) -> NewEvent:
        return NewEvent(pid, "team-1", "due", "2026-11-01", D, {"patient_id": pid, "note": note})

    first = [due("P1", "a"), due("P2", "b")]
    assert db.ledger.record_events(first, D, "r1") == first
    both = [due("P2", "again"), due("P3", "c"), due("P4", "c"), due("P1", "again")]

    assert db.ledger.record_events(both, D, "r2") == [both[1], both[2]]

    with db.engine.connect() as conn:
        rows = conn.execute(select(events.c.patient_id, events.c.run_id, events.c.payload).order_by(events.c.id))
        stored = [(pid, run, json.loads(payload)["note"]) for pid, run, payload in rows]
    assert stored == [("P1", "r1", "a"), ("P2", "r1", "b"), ("P3", "r2", "c"), ("P4", "r2", "c")]
    db.dispose()
