"""Measure every care team on one date: the cohort's evaluations and the windows closed in the last 90 days.

    team_metrics(db, book, date(2026, 12, 7))["gi-onc-east"].overdue
"""

from __future__ import annotations

from datetime import date

from netflow.adapters.database import Database
from netflow.cohort import evaluate_cohort
from netflow.domain.metrics import Closure, TeamMetrics, closure_period, measure
from netflow.domain.rules import RuleBook, guideline_for

__all__ = ["closures", "team_metrics"]


def closures(db: Database, book: RuleBook, as_of: date) -> list[Closure]:
    """The windows closed by a scan in the period ending `as_of`, each with its guideline's grace days.

    A closing scan is never after its event's as-of date, so filtering on the event date loses none.
    A patient whose guideline the book no longer has counts with the default rule set's grace days."""
    found = db.ledger.closed_events(*closure_period(as_of))
    own = db.patients.record_guidelines({c.patient_id for c in found})
    teams = db.patients.team_guidelines()
    default = book[book.default]
    measured = []
    for closed in found:
        chosen = guideline_for(own.get(closed.patient_id), teams.get(closed.care_team), book)
        rules = book.rulesets.get(chosen, default)
        measured.append(Closure(closed.care_team, closed.window_close, closed.closed_by_scan, rules.grace_days))
    return measured


def team_metrics(db: Database, book: RuleBook, as_of: date) -> dict[str, TeamMetrics]:
    """Every care team's worklist, closures and data quality on `as_of`, by team key."""
    return measure(evaluate_cohort(db, as_of, book), closures(db, book, as_of), as_of)
