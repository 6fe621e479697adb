"""Evaluate the cohort and record the events it amounts to (reminders spec, section 1)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from netflow.adapters.database import Database
from netflow.batching import batched
from netflow.cohort import evaluate_cohort
from netflow.domain.evaluation import Evaluation
from netflow.domain.events import NewEvent, PastEvent, decide_events, window_kind
from netflow.domain.rules import RuleBook

__all__ = ["TEAM_COUNTERS", "RecordResult", "record_run", "team_counters"]

BATCH = 5000
# The open-worklist totals kept per team, as in a digest's totals line.
TEAM_COUNTERS = ("escalated", "overdue", "due", "due_soon", "high_risk", "needs_review", "not_indicated",
                 "under_surveillance")


@dataclass
class RecordResult:
    """What a recording pass did on its as-of date: counts only (safe for logs and XCom)."""

    as_of: date
    evaluated: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    teams: dict[str, Counter[str]] = field(default_factory=dict)
    replay: bool = False
    new_events: list[NewEvent] = field(default_factory=list)  # kept only for dry runs

    def as_counts(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "evaluated": self.evaluated,
            "by_status": dict(sorted(self.by_status.items())),
            "events": dict(sorted(self.events.items())),
            "teams": {team: dict(sorted(c.items())) for team, c in sorted(self.teams.items())},
            "replay": self.replay,
        }


def team_counters(evaluation: Evaluation) -> list[str]:
    """Which open-worklist counters this evaluation adds to."""
    kind = window_kind(evaluation)
    names = [kind] if kind else []
    if evaluation.status in ("not_due", "due_soon", "due", "overdue"):
        names.append("under_surveillance")
        if evaluation.risk_tier == "high":
            names.append("high_risk")
    elif evaluation.status in ("needs_review", "not_indicated"):
        names.append(evaluation.status)
    return names


def _with_history(evaluations: Iterator[Evaluation], history: Iterator[tuple[str, list[PastEvent]]]
                  ) -> Iterator[tuple[Evaluation, list[PastEvent]]]:
    """Merge two streams ordered by patient_id (code-point order) into (evaluation, its past events)."""
    pending = next(history, None)
    for evaluation in evaluations:
        pid = str(evaluation.patient_id)
        while pending is not None and pending[0] < pid:
            pending = next(history, None)
        if pending is not None and pending[0] == pid:
            yield evaluation, pending[1]
            pending = next(history, None)
        else:
            yield evaluation, []


def _version(book: RuleBook, evaluation: Evaluation) -> str | None:
    guideline = evaluation.guideline
    return book[guideline].version if guideline is not None and guideline in book.ids else None


def record_run(db: Database, book: RuleBook, as_of: date, run_id: str, *, shard: int = 0, shards: int = 1,
               teams: frozenset[str] | None = None, dry_run: bool = False) -> RecordResult:
    """Evaluate one shard of the cohort and record its new events (nothing is written on a dry run).

    Replaying an earlier date than one already run evaluates but records nothing new.
    """
    result = RecordResult(as_of)
    latest = db.ledger.begin_run(run_id, as_of, record=not dry_run)
    result.replay = latest is not None and as_of < latest
    with closing(db.ledger.iter_event_history(shard, shards)) as history:
        evaluations = evaluate_cohort(db, as_of, book, shard=shard, shards=shards)
        for batch in batched(_with_history(evaluations, history), BATCH):
            new: list[NewEvent] = []
            for evaluation, past in batch:
                team = evaluation.care_team or ""
                if teams is not None and team not in teams:
                    continue
                result.evaluated += 1
                result.by_status[evaluation.status] += 1
                if evaluation.status != "invalid":
                    result.teams.setdefault(team, Counter()).update(team_counters(evaluation))
                if not result.replay:
                    new.extend(decide_events(evaluation, past, _version(book, evaluation)))
            if dry_run:
                result.new_events.extend(new)
                result.events.update(e.kind for e in new)
            elif new:
                result.events.update(e.kind for e in db.ledger.record_events(new, as_of, run_id))
    return result
