"""Evaluate the cohort: every patient in the patient database on one date, streamed in patient_id order.

    for evaluation in evaluate_cohort(db, date(2026, 12, 1), book, shard=0, shards=2):
        print(evaluation.status)

A patient's guideline is the record's own, else the care team's, else the rule book's default
(`netflow.domain.rules.guideline_for`). What `netflow scan`, the daily run, the weekly report and
the worklist all evaluate.
"""

from __future__ import annotations

import gc
import heapq
import pickle
from collections.abc import Callable, Iterator
from datetime import date
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from operator import itemgetter
from typing import Any, TypeVar

from netflow.adapters.database import Database
from netflow.domain.engine import evaluate_stored
from netflow.domain.evaluation import Evaluation
from netflow.domain.record import PatientRecord
from netflow.domain.rules import RuleBook
from netflow.errors import CohortError

__all__ = ["evaluate_cohort", "evaluate_cohort_forked", "evaluate_patient", "team_guidelines"]

T = TypeVar("T")
BATCH = 500  # evaluations a worker sends at once


def team_guidelines(db: Database, book: RuleBook) -> dict[str, str]:
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
    chosen = team_guidelines(db, book)
    for record in db.patients.stream_records(team=team, shard=shard, shards=shards):
        yield evaluate_stored(record, as_of, book, chosen.get(record.care_team))


def evaluate_patient(db: Database, record: PatientRecord, as_of: date, book: RuleBook) -> Evaluation:
    """One stored patient's evaluation under the record's, its team's or the default guideline."""
    return evaluate_stored(record, as_of, book, db.patients.team_guidelines().get(record.care_team))


def evaluate_cohort_forked(db: Database, as_of: date, book: RuleBook, transform: Callable[[Evaluation], T], *,
                           workers: int, team: str | None = None, shard: int = 0, shards: int = 1) -> Iterator[T]:
    """`transform` of each evaluation of `evaluate_cohort`, in the same patient_id order, from `workers`
    forked processes: worker j evaluates shard `shard + shards * j` of `shards * workers` (the bucket
    sharding) and the streams are merged by patient_id.

    Fork keeps the start cheap (no imports, the rule book inherited) but is unsafe under Airflow's or
    Celery's threads: for the CLI only. Each worker opens its own connections."""
    if workers <= 1 or "fork" not in get_all_start_methods():  # no fork (Windows): in this process
        yield from map(transform, evaluate_cohort(db, as_of, book, team=team, shard=shard, shards=shards))
        return
    team_guidelines(db, book)  # a bad teams file fails here, once, before any worker starts
    context = get_context("fork")
    streams: list[tuple[BaseProcess, Connection]] = []
    gc.freeze()  # what the workers inherit stays out of their collections: no copying of untouched pages
    try:
        for j in range(workers):
            reader, writer = context.Pipe(duplex=False)
            process: BaseProcess = context.Process(target=_worker, daemon=True, args=(
                db, as_of, book, transform, team, shard + shards * j, shards * workers, writer))
            process.start()
            writer.close()  # the worker's end: once it exits, reading says so (EOFError)
            streams.append((process, reader))
        gc.unfreeze()
        merged = heapq.merge(*(_received(process, reader) for process, reader in streams), key=itemgetter(0))
        yield from map(itemgetter(1), merged)
    finally:
        gc.unfreeze()
        for process, reader in streams:
            if process.is_alive():
                process.kill()
            process.join()
            reader.close()


class _Failed:
    """A worker's exception, as the worker raised it when it can be sent."""

    def __init__(self, error: BaseException) -> None:
        try:
            pickle.dumps(error)
            self.error = error
        except Exception:
            self.error = RuntimeError(f"a scan worker failed: {type(error).__name__}")


def _worker(db: Database, as_of: date, book: RuleBook, transform: Callable[[Evaluation], Any], team: str | None,
            shard: int, shards: int, writer: Connection) -> None:
    """Evaluate one shard and send (patient_id, item) pairs in batches: a full pipe holds the worker back."""
    db.engine.dispose(close=False)  # the parent's pooled connections are the parent's: open new ones
    try:
        batch = []
        for evaluation in evaluate_cohort(db, as_of, book, team=team, shard=shard, shards=shards):
            batch.append((evaluation.patient_id, transform(evaluation)))
            if len(batch) >= BATCH:
                writer.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
                batch = []
        writer.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        writer.send_bytes(pickle.dumps(None))
    except BaseException as exc:
        writer.send_bytes(pickle.dumps(_Failed(exc)))
    finally:
        writer.close()


def _received(process: BaseProcess, reader: Connection) -> Iterator[tuple[str, Any]]:
    """One worker's (patient_id, item) pairs; its exception re-raised here; an error if it dies silently."""
    while True:
        try:
            batch = pickle.loads(reader.recv_bytes())
        except EOFError:
            process.join()
            raise RuntimeError(f"a scan worker stopped (exit code {process.exitcode})") from None
        if batch is None:
            return
        if isinstance(batch, _Failed):
            raise batch.error
        yield from batch
