"""Evaluate the patient database on one date (`netflow scan`): a stream of evaluations, by MRN.

    for evaluation in scan(inst, date(2026, 12, 1), team="gi-onc-east", shard=0, shards=2): ...
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import date
from typing import TypeVar

from netflow.cohort import evaluate_cohort, evaluate_cohort_forked
from netflow.domain.evaluation import Evaluation
from netflow.errors import InputError, capped
from netflow.installation import Installation

__all__ = ["scan", "scan_forked"]

T = TypeVar("T")

# An unknown team's error lists this many known team keys, then "and N more".
LISTED_TEAMS = 20


def scan(inst: Installation, as_of: date, *, team: str | None = None, shard: int = 0,
         shards: int = 1) -> Iterator[Evaluation]:
    """Every stored patient's evaluation (of `team`; of shard `shard` of `shards`), by patient_id.

    The database is checked first (NotMigrated says to run 'netflow db upgrade'); a `team` that is
    neither configured nor named by any patient is an InputError listing the known teams."""
    _check(inst, team, shard, shards)
    return evaluate_cohort(inst.db, as_of, inst.book, team=team, shard=shard, shards=shards)


def scan_forked(inst: Installation, as_of: date, transform: Callable[[Evaluation], T], *, workers: int,
                team: str | None = None, shard: int = 0, shards: int = 1) -> Iterator[T]:
    """`scan`, each evaluation passed through `transform` (e.g. `Evaluation.to_json`), in `workers`
    forked processes (`netflow.cohort.evaluate_cohort_forked`: the CLI only); same items, same order."""
    _check(inst, team, shard, shards)
    return evaluate_cohort_forked(inst.db, as_of, inst.book, transform, workers=workers, team=team, shard=shard,
                                  shards=shards)


def _check(inst: Installation, team: str | None, shard: int, shards: int) -> None:
    if shards < 1 or not 0 <= shard < shards:
        raise InputError(f"shard must be between 0 and {shards - 1}, got {shard}")
    inst.db.check_ready()
    if team is not None:
        _check_team(inst, team)


def _check_team(inst: Installation, team: str) -> None:
    """Raise InputError unless `team` is a configured care team or one that some patient names."""
    known = inst.db.patients.care_team_names()
    if team not in known:
        raise InputError(f"unknown care team {team!r}: {_known_teams(known)}")


def _known_teams(keys: Collection[str], limit: int = LISTED_TEAMS) -> str:
    """One line naming the known team keys (sorted; the first `limit`, then how many more)."""
    if not keys:
        return "no care team is configured and no patient names one (load them with 'netflow teams load')"
    return f"the known teams are {capped(sorted(keys), limit)}"
