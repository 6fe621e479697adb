"""Evaluate the cohort: every patient in the patient database on one date, streamed in patient_id order.

    for evaluation in evaluate_cohort(db, date(2026, 12, 1), book, shard=0, shards=2):
        print(evaluation.status)

A patient's guideline is the record's own, else the care team's, else the rule book's default
(`netflow.domain.rules.guideline_for`). What `netflow scan`, the daily run, the weekly report and
the worklist all evaluate.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from netflow.adapters.database import Database
from netflow.domain.engine import evaluate_stored
from netflow.domain.evaluation import Evaluation
from netflow.domain.record import PatientRecord
from netflow.domain.rules import RuleBook
from netflow.errors import CohortError

__all__ = ["evaluate_cohort", "evaluate_patient"]


def _team_guidelines(db: Database, book: RuleBook) -> dict[str, str]:
    """The guideline each care team chose; CohortError when one names a rule set the book does not have."""
    chosen = db.patients.team_guidelines()
    unknown = sorted(key for key, guideline in chosen.items() if guideline not in book.ids)
    if unknown:
        raise CohortError(f"care team(s) {', '.join(unknown)} name a guideline this installation does not "
                          f"have (known: {', '.join(book.ids)}); fix the teams file and run "
                          f"'netflow teams load' again")
    return chosen


def evaluate_cohort(db: Database, as_of: date, book: RuleBook, *, team: str | None = None, shard: int = 0,
                    shards: int = 1) -> Iterator[Evaluation]:
    """One evaluation per stored patient (of `team`; of shard `shard` of `shards`), by patient_id."""
    team_guidelines = _team_guidelines(db, book)
    for record in db.patients.stream_records(team=team, shard=shard, shards=shards):
        yield evaluate_stored(record, as_of, book, team_guidelines.get(record.care_team))


def evaluate_patient(db: Database, record: PatientRecord, as_of: date, book: RuleBook) -> Evaluation:
    """One stored patient's evaluation under the record's, its team's or the default guideline."""
    return evaluate_stored(record, as_of, book, db.patients.team_guidelines().get(record.care_team))
