"""The outbox: the `outbox` table, every digest and report written before (or as) it is sent. One named
method per question; its SQL lives here and nowhere else.

    outbox = Outbox(engine)                          # reads, and single writes in their own transaction
    for message in outbox.pending_messages(): ...
    outbox.mark_sent(message.id)
    with database.transaction(lock="build") as tx:   # several writes in one transaction: tx.outbox
        outbox_id = tx.outbox.create_outbox_message(...)
        tx.ledger.attach_digest_events({team: outbox_id}, through)  # the events table is the ledger's

A message is sent once: it is marked sent only after the SMTP server accepted it, and a report is
recognised by its Message-ID (`sent_message_ids`) before it is sent again.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, func, select, update

from netflow.adapters.db import as_utc, scrubbed_errors
from netflow.adapters.tables import outbox, utcnow
from netflow.batching import IN_LIST, batched

__all__ = ["OUTBOX_STATUSES", "Outbox", "OutboxEntry", "OutboxMessage", "OutboxWriter"]

OUTBOX_STATUSES = ("pending", "sent", "failed")
ERROR_CHARS = 2000  # outbox.last_error keeps this much


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A digest waiting in the outbox (or already sent)."""

    id: int
    kind: str
    team_key: str | None
    message_id: str
    subject: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    body_text: str
    body_html: str
    status: str
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox row as an operator lists it: no address, body or subject (nothing about a patient)."""

    id: int
    kind: str
    team_key: str | None
    as_of: date
    status: str
    attempts: int
    created_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    requeued_at: datetime | None
    requeued_by: str | None


class OutboxWriter:
    """The outbox's questions and writes inside one transaction (the caller's connection)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create_outbox_message(self, *, kind: str, team_key: str | None, run_id: str, as_of: date,
                              message_id: str, subject: str, sender: str, to: Sequence[str], cc: Sequence[str],
                              body_text: str, body_html: str, status: str = "pending") -> int:
        """Write a message to the outbox; returns its outbox id. A digest's events are attached to it by the
        ledger (`LedgerWriter.attach_digest_events`) in the same transaction."""
        sent = status == "sent"
        outbox_id = self._conn.execute(outbox.insert().returning(outbox.c.id), {
            "kind": kind, "team_key": team_key, "run_id": run_id, "as_of": as_of, "message_id": message_id,
            "subject": subject, "sender": sender, "to_addrs": json.dumps(list(to)),
            "cc_addrs": json.dumps(list(cc)), "body_text": body_text, "body_html": body_html, "status": status,
            "attempts": 1 if sent else 0, "created_at": utcnow(), "sent_at": utcnow() if sent else None,
        }).scalar_one()
        return int(outbox_id)

    def set_message_id(self, outbox_id: int, message_id: str) -> None:
        self._conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(message_id=message_id))

    def has_team_digest(self, team_key: str) -> bool:
        """Whether the team was ever written a digest (its first digest is the backlog)."""
        query = select(outbox.c.id).where(outbox.c.kind == "team_digest", outbox.c.team_key == team_key).limit(1)
        return self._conn.execute(query).first() is not None

    def sent_message_ids(self, message_ids: Collection[str]) -> set[str]:
        """Which of these Message-IDs are already in the outbox."""
        found: set[str] = set()
        for chunk in batched(message_ids, IN_LIST):
            query = select(outbox.c.message_id).where(outbox.c.message_id.in_(chunk))
            found.update(m for (m,) in self._conn.execute(query))
        return found

    def pending_messages(self, teams: Iterable[str] | None = None) -> list[OutboxMessage]:
        """The pending messages, oldest first (the columns a send needs, named: a newer column never breaks it)."""
        o = outbox.c
        query = select(o.id, o.kind, o.team_key, o.message_id, o.subject, o.sender, o.to_addrs, o.cc_addrs,
                       o.body_text, o.body_html, o.status, o.attempts).where(o.status == "pending")
        if teams is not None:
            query = query.where(outbox.c.team_key.in_(list(teams)))
        return [
            OutboxMessage(id=r.id, kind=r.kind, team_key=r.team_key, message_id=r.message_id, subject=r.subject,
                          sender=r.sender, to=tuple(json.loads(r.to_addrs)), cc=tuple(json.loads(r.cc_addrs)),
                          body_text=r.body_text, body_html=r.body_html, status=r.status, attempts=r.attempts)
            for r in self._conn.execute(query.order_by(outbox.c.id))
        ]

    def mark_sent(self, outbox_id: int) -> None:
        self._conn.execute(update(outbox).where(outbox.c.id == outbox_id)
                           .values(status="sent", sent_at=utcnow(), attempts=outbox.c.attempts + 1, last_error=None))

    def mark_attempt_failed(self, outbox_id: int, error: str, max_attempts: int) -> str:
        """Count a failed attempt (the server refused the message itself); the message is failed for good after
        `max_attempts`. Returns the status."""
        attempts = self._conn.execute(update(outbox).where(outbox.c.id == outbox_id)
                                      .values(attempts=outbox.c.attempts + 1, last_error=error[:ERROR_CHARS])
                                      .returning(outbox.c.attempts)).scalar_one()
        status = "failed" if attempts >= max_attempts else "pending"
        if status == "failed":
            self._conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(status="failed"))
        return status

    def note_error(self, outbox_ids: Sequence[int], error: str) -> None:
        """Keep `error` as the last error of these pending messages without counting an attempt: the server was
        not reached, or the connection was lost, so nothing was decided about them. Status and attempts stay."""
        for chunk in batched(outbox_ids, IN_LIST):
            self._conn.execute(update(outbox).where(outbox.c.id.in_(chunk), outbox.c.status == "pending")
                               .values(last_error=error[:ERROR_CHARS]))

    def outbox_counts(self, run_id: str | None = None) -> dict[str, int]:
        """Messages by status (pending, sent, failed), of one run or all; a status with none is left out."""
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        if run_id is not None:
            query = query.where(outbox.c.run_id == run_id)
        return {status: int(n) for status, n in self._conn.execute(query)}

    def outbox_entries(self, statuses: Collection[str], limit: int) -> list[OutboxEntry]:
        """The newest `limit` messages with one of `statuses`, newest first (no address, subject or body)."""
        o = outbox.c
        query = (select(o.id, o.kind, o.team_key, o.as_of, o.status, o.attempts, o.created_at, o.sent_at,
                        o.last_error, o.requeued_at, o.requeued_by)
                 .where(o.status.in_(list(statuses))).order_by(o.id.desc()).limit(limit))
        return [OutboxEntry(r.id, r.kind, r.team_key, r.as_of, r.status, r.attempts, as_utc(r.created_at),
                            as_utc(r.sent_at), r.last_error, as_utc(r.requeued_at), r.requeued_by)
                for r in self._conn.execute(query)]

    def outbox_statuses(self, outbox_ids: Collection[int]) -> dict[int, str]:
        """The status of each of these messages that exists."""
        found: dict[int, str] = {}
        for chunk in batched(outbox_ids, IN_LIST):
            query = select(outbox.c.id, outbox.c.status).where(outbox.c.id.in_(chunk))
            found.update((int(i), str(status)) for i, status in self._conn.execute(query))
        return found

    def requeue_failed(self, outbox_ids: Collection[int] | None, by: str) -> list[int]:
        """Put failed messages (these, or every failed one when None) back to pending with no attempt counted,
        noting who and when: `requeued_by`, `requeued_at`, and `last_error` "requeued by ... at ...; before: ...".
        A message that is not failed is left as it is. Returns the ids requeued, in id order."""
        o = outbox.c
        query = select(o.id, o.attempts, o.last_error).where(o.status == "failed").order_by(o.id)
        if outbox_ids is not None:
            query = query.where(o.id.in_(list(outbox_ids)))
        now = utcnow()
        requeued = []
        for outbox_id, attempts, last_error in self._conn.execute(query).all():
            note = (f"requeued by {by} at {now:%Y-%m-%d %H:%M:%S} UTC after {attempts} attempt(s); "
                    f"before: {last_error or 'no error recorded'}")
            self._conn.execute(update(outbox).where(o.id == outbox_id, o.status == "failed").values(
                status="pending", attempts=0, last_error=note[:ERROR_CHARS], requeued_at=now, requeued_by=by))
            requeued.append(int(outbox_id))
        return requeued


class Outbox:
    """The outbox behind one engine: each method is one transaction of its own (see OutboxWriter for what
    they do); several writes that belong together go through `Database.transaction()` instead."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _writer(self) -> Iterator[OutboxWriter]:
        with scrubbed_errors(), self.engine.begin() as conn:
            yield OutboxWriter(conn)

    def pending_messages(self, teams: Iterable[str] | None = None) -> list[OutboxMessage]:
        with self._writer() as w:
            return w.pending_messages(teams)

    def mark_sent(self, outbox_id: int) -> None:
        with self._writer() as w:
            w.mark_sent(outbox_id)

    def mark_attempt_failed(self, outbox_id: int, error: str, max_attempts: int) -> str:
        with self._writer() as w:
            return w.mark_attempt_failed(outbox_id, error, max_attempts)

    def note_error(self, outbox_ids: Sequence[int], error: str) -> None:
        with self._writer() as w:
            w.note_error(outbox_ids, error)

    def outbox_counts(self, run_id: str | None = None) -> dict[str, int]:
        with self._writer() as w:
            return w.outbox_counts(run_id)

    def outbox_entries(self, statuses: Collection[str], limit: int) -> list[OutboxEntry]:
        with self._writer() as w:
            return w.outbox_entries(statuses, limit)

    def sent_message_ids(self, message_ids: Collection[str]) -> set[str]:
        with self._writer() as w:
            return w.sent_message_ids(message_ids)
