"""Evaluate the patient database on one date (`netflow scan`): a stream of evaluations, by MRN.

    for evaluation in scan(inst, date(2026, 12, 1), team="gi-onc-east", shard=0, shards=2): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from netflow.cohort import evaluate_cohort
from netflow.domain.evaluation import Evaluation
from netflow.errors import InputError
from netflow.installation import Installation

__all__ = ["scan"]


def scan(inst: Installation, as_of: date, *, team: str | None = None, shard: int = 0,
         shards: int = 1) -> Iterator[Evaluation]:
    """Every stored patient's evaluation (of `team`; of shard `shard` of `shards`), by patient_id.

    The database is checked first (NotMigrated says to run 'netflow db upgrade')."""
    if shards < 1 or not 0 <= shard < shards:
        raise InputError(f"shard must be between 0 and {shards - 1}, got {shard}")
    inst.db.check_ready()
    return evaluate_cohort(inst.db, as_of, inst.book, team=team, shard=shard, shards=shards)
