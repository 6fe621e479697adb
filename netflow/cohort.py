"""Evaluate the cohort: every patient in the patient database on one date, streamed in patient_id order.

    for evaluation in evaluate_cohort(db, date(2026, 12, 1), book, shard=0, shards=2):
        print(evaluation.status)

A patient's guideline is the record's own, else the care team's, else the rule book's default
(`netflow.domain.rules.guideline_for`). What `netflow scan`, the daily run, the weekly report and
the worklist all evaluate.
"""

from __future__ import annotations

import gc
import pickle
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import IO, Any, TypeVar

from netflow.adapters.database import Database
from netflow.adapters.patients import IdRange
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
                    shards: int = 1, id_range: IdRange = (None, None)) -> Iterator[Evaluation]:
    """One evaluation per stored patient (of `team`; of shard `shard` of `shards`; in `id_range`), by patient_id."""
    chosen = team_guidelines(db, book)
    for record in db.patients.stream_records(team=team, shard=shard, shards=shards, id_range=id_range):
        yield evaluate_stored(record, as_of, book, chosen.get(record.care_team))


def evaluate_patient(db: Database, record: PatientRecord, as_of: date, book: RuleBook) -> Evaluation:
    """One stored patient's evaluation under the record's, its team's or the default guideline."""
    return evaluate_stored(record, as_of, book, db.patients.team_guidelines().get(record.care_team))


def evaluate_cohort_forked(db: Database, as_of: date, book: RuleBook, transform: Callable[[Evaluation], T], *,
                           workers: int, team: str | None = None, shard: int = 0, shards: int = 1) -> Iterator[T]:
    """`transform` of each evaluation of `evaluate_cohort`, in the same patient_id order, from `workers`
    forked processes.

    The cohort is cut into one range of patient ids per worker, of about equal size (`id_cuts`): each
    worker reads only its part of both tables (no join, no merge). The parent hands the ranges on in
    order; what a later range's worker sends meanwhile waits in a temporary file (`_in_order`).

    Fork keeps the start cheap (no imports, the rule book inherited) but is unsafe under Airflow's or
    Celery's threads: for the CLI only. Each worker opens its own connections."""
    forking = workers > 1 and "fork" in get_all_start_methods()  # no fork (Windows): in this process
    cuts: list[str | None] = list(db.patients.id_cuts(workers, team, shard, shards)) if forking else []
    if not cuts:  # one worker, or too few patients to share
        yield from map(transform, evaluate_cohort(db, as_of, book, team=team, shard=shard, shards=shards))
        return
    team_guidelines(db, book)  # a bad teams file fails here, once, before any worker starts
    ranges: list[IdRange] = list(zip([None, *cuts], [*cuts, None], strict=True))
    context = get_context("fork")
    streams: list[tuple[BaseProcess, Connection]] = []
    gc.freeze()  # what the workers inherit stays out of their collections: no copying of untouched pages
    try:
        for id_range in ranges:
            reader, writer = context.Pipe(duplex=False)
            process: BaseProcess = context.Process(target=_worker, daemon=True, args=(
                db, as_of, book, transform, team, shard, shards, id_range, writer))
            process.start()
            writer.close()  # the worker's end: once it exits, reading says so (EOFError)
            streams.append((process, reader))
        gc.unfreeze()
        yield from _in_order(streams)
    finally:
        gc.unfreeze()
        for process, reader in streams:
            if process.is_alive():
                process.kill()
            process.join()
            reader.close()


def _in_order(streams: list[tuple[BaseProcess, Connection]]) -> Iterator[Any]:
    """The items of worker 0's range, then worker 1's, ..., read from all pipes as they come.

    A worker's message is a batch of items, an empty batch at the end, or _Failed. The first
    unfinished worker's batches go straight on; the others' are written, still pickled, to a
    temporary file each (a worker is never held back, and memory stays flat) and read back in turn."""
    spools: list[IO[bytes] | None] = [None] * len(streams)
    ended = [False] * len(streams)
    index = {reader: number for number, (_, reader) in enumerate(streams)}
    current = 0
    try:
        while current < len(streams):
            for reader in wait([reader for number, (_, reader) in enumerate(streams) if not ended[number]]):
                assert isinstance(reader, Connection)
                number = index[reader]
                data = _received(streams[number][0], reader)
                if data is None:
                    ended[number] = True
                elif number == current:
                    yield from pickle.loads(data)
                else:
                    spool = spools[number]
                    if spool is None:
                        spool = spools[number] = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
                    spool.write(len(data).to_bytes(8, "little"))
                    spool.write(data)
            while current < len(streams) and ended[current]:
                current += 1
                if current < len(streams):
                    yield from _replayed(spools[current])
                    spools[current] = None
    finally:
        for spool in spools:
            if spool is not None:
                spool.close()


def _replayed(spool: IO[bytes] | None) -> Iterator[Any]:
    """The items of the batches written to `spool` (closed after), in order."""
    if spool is None:
        return
    with spool:
        spool.seek(0)
        while size := int.from_bytes(spool.read(8), "little"):
            yield from pickle.loads(spool.read(size))


def _received(process: BaseProcess, reader: Connection) -> bytes | None:
    """A worker's next batch, still pickled; None at its end; its exception re-raised here."""
    try:
        data = reader.recv_bytes()
    except EOFError:
        process.join()
        raise RuntimeError(f"a scan worker stopped (exit code {process.exitcode})") from None
    if data == _END:
        return None
    if data.startswith(_FAILED):
        failed: _Failed = pickle.loads(data[len(_FAILED):])
        raise failed.error
    return data


class _Failed:
    """A worker's exception, as the worker raised it when it can be sent."""

    def __init__(self, error: BaseException) -> None:
        try:
            pickle.dumps(error)
            self.error = error
        except Exception:
            self.error = RuntimeError(f"a scan worker failed: {type(error).__name__}")


def _worker(db: Database, as_of: date, book: RuleBook, transform: Callable[[Evaluation], Any], team: str | None,
            shard: int, shards: int, id_range: IdRange, writer: Connection) -> None:
    """Evaluate one range of patient ids and send its items in pickled batches, then _END (or a _Failed).
    A full pipe holds the worker back until the parent reads it."""
    db.engine.dispose(close=False)  # the parent's pooled connections are the parent's: open new ones
    try:
        batch = []
        for evaluation in evaluate_cohort(db, as_of, book, team=team, shard=shard, shards=shards,
                                          id_range=id_range):
            batch.append(transform(evaluation))
            if len(batch) >= BATCH:
                writer.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
                batch = []
        if batch:
            writer.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        writer.send_bytes(_END)
    except BaseException as exc:
        writer.send_bytes(_FAILED + pickle.dumps(_Failed(exc), pickle.HIGHEST_PROTOCOL))
    finally:
        writer.close()


# A worker's messages: pickled batches (a pickle starts with its protocol byte, 0x80), and these two.
_END = b"E"
_FAILED = b"F"  # then the pickled _Failed
