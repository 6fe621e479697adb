"""Evaluate the whole cohort in the patient database on one date, streaming.

>>> for evaluation in iter_evaluations(engine, date(2026, 12, 1), load_rulebook()):  # doctest: +SKIP
...     print(evaluation.status)

The guideline of each patient: the record's own, else the care team's, else the rule book's default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date

from sqlalchemy import Engine

from netflow.adapters.patients import PatientStore
from netflow.domain import explain
from netflow.domain.engine import evaluate_record
from netflow.domain.evaluation import Evaluation
from netflow.domain.record import FieldError, PatientRecord
from netflow.domain.rules import RuleBook

__all__ = ["ScanError", "evaluate_stored", "iter_evaluations"]


class ScanError(ValueError):
    """The stored configuration does not fit the rule book (e.g. a team names an unknown guideline)."""


def _check_teams(team_guidelines: Mapping[str, str], book: RuleBook) -> None:
    unknown = sorted(key for key, guideline in team_guidelines.items() if guideline not in book.ids)
    if unknown:
        raise ScanError(f"care team(s) {', '.join(unknown)} name a guideline this installation does not "
                        f"have (known: {', '.join(book.ids)}); fix the teams file and run "
                        f"'netflow teams load' again")


def evaluate_stored(record: PatientRecord, as_of: date, book: RuleBook,
                    team_guidelines: Mapping[str, str]) -> Evaluation:
    """Evaluate one stored record under its guideline (record's, else team's, else default)."""
    guideline = record.guideline or team_guidelines.get(record.care_team) or book.default
    if guideline not in book.ids:  # the record named a rule set that has since been removed
        errors = (FieldError("guideline", f"must be one of {', '.join(book.ids)}; got {guideline!r}"),)
        return Evaluation(patient_id=record.patient_id, as_of=as_of, status="invalid", errors=errors,
                          explanation=explain.invalid(list(errors)), care_team=record.care_team)
    return evaluate_record(record, as_of, book[guideline])


def iter_evaluations(engine: Engine, as_of: date, book: RuleBook, team: str | None = None,
                     shard: int = 0, shards: int = 1) -> Iterator[Evaluation]:
    """One evaluation per stored patient (of `team`; of shard `shard` of `shards`), by patient_id."""
    store = PatientStore(engine)
    team_guidelines = store.team_guidelines()
    _check_teams(team_guidelines, book)
    for record in store.stream_records(team=team, shard=shard, shards=shards):
        yield evaluate_stored(record, as_of, book, team_guidelines)
