"""The outbox as an operator sees it: what is waiting, what failed, and putting failed messages back.

    listing(inst, "failed", limit=100)       # the newest failed messages (no patient data) and counts by status
    retry(inst, [12, 13], by="alice")        # those failed messages back to pending, attempts 0, who and when kept
    retry(inst, None, by="alice")            # every failed message
    counts(inst)                             # {"pending": 2, "failed": 1, "sent": 40}

Nothing here sends: the next daily run (its `send` step) or `netflow remind` sends what is pending. A
requeue is audited in the row itself: `requeued_by`, `requeued_at` (kept for good) and `last_error`
("requeued by alice at ... UTC after 5 attempt(s); before: <the error>", until the next attempt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netflow.adapters.outbox import OUTBOX_STATUSES, OutboxEntry
from netflow.errors import InputError
from netflow.installation import Installation

__all__ = ["OUTBOX_STATUSES", "OutboxEntry", "OutboxListing", "RequeueResult", "counts", "listing", "retry"]

UNDELIVERED = ("pending", "failed")
BY_CHARS = 100  # outbox.requeued_by


@dataclass(frozen=True)
class OutboxListing:
    """The messages listed (newest first) and how many there are of each status in the whole outbox."""

    entries: list[OutboxEntry]
    statuses: tuple[str, ...]
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        """How many messages have one of the listed statuses (the entries may be fewer: the limit)."""
        return sum(self.counts.get(status, 0) for status in self.statuses)


@dataclass(frozen=True)
class RequeueResult:
    """The messages put back to pending, and by whom."""

    requeued: list[int]
    by: str

    def as_counts(self) -> dict[str, object]:
        return {"requeued": len(self.requeued), "ids": list(self.requeued)}


def counts(inst: Installation) -> dict[str, int]:
    """Messages by status, every status present (0 when there is none)."""
    found = inst.db.outbox.outbox_counts()
    return {status: found.get(status, 0) for status in OUTBOX_STATUSES}


def listing(inst: Installation, status: str | None = None, limit: int = 100) -> OutboxListing:
    """The newest `limit` messages with `status` (None: pending and failed, what is not delivered)."""
    inst.db.check_ready()
    if status is not None and status not in OUTBOX_STATUSES:
        raise InputError(f"status must be one of {', '.join(OUTBOX_STATUSES)}, got {status!r}")
    if limit < 1:
        raise InputError(f"the limit must be a positive number, got {limit}")
    statuses = (status,) if status is not None else UNDELIVERED
    return OutboxListing(inst.db.outbox.outbox_entries(statuses, limit), statuses, counts(inst))


def retry(inst: Installation, ids: Sequence[int] | None, by: str) -> RequeueResult:
    """Put failed messages back to pending with no attempt counted: these `ids`, or every failed one (None).

    All or nothing: when an id is unknown or its message is not failed (pending already, or sent: it would
    be sent twice), InputError names it and nothing is requeued. `by` is who asked (one line)."""
    inst.db.check_ready()
    who = " ".join(by.split())[:BY_CHARS]
    if not who:
        raise InputError("say who requeues the messages (--by NAME)")
    if ids is not None and not ids:
        raise InputError("name the outbox ids to requeue, or ask for every failed one")
    with inst.db.transaction() as tx:
        if ids is not None:
            _check_failed(ids, tx.outbox.outbox_statuses(ids))
        requeued = tx.outbox.requeue_failed(None if ids is None else sorted(set(ids)), who)
    return RequeueResult(requeued, who)


def _check_failed(ids: Sequence[int], statuses: Mapping[int, str]) -> None:
    unknown = sorted({i for i in ids if i not in statuses})
    if unknown:
        raise InputError(f"no outbox message with id {', '.join(map(str, unknown))}; nothing was requeued "
                         "(see 'netflow outbox list --status failed')")
    not_failed = sorted({i for i in ids if statuses[i] != "failed"})
    if not_failed:
        which = ", ".join(f"{i} is {statuses[i]}" for i in not_failed)
        raise InputError(f"only failed messages can be requeued ({which}); nothing was requeued")
