"""Evaluate the cohort and record the events it amounts to (reminders spec, section 1).

    record_run(db, book, date(2026, 12, 2), "daily-2")              # incremental: only what can have changed
    record_run(db, book, date(2026, 12, 2), "check", full=True)     # everyone (after a rules change, to check)
    record_run(db, book, date(2026, 12, 1), "first", workers=2)     # a pass over everyone in 2 forked processes

A daily run keeps where each patient stands (`patient_state`, adapters/state.py) with the first date it
can change (netflow.domain.changes.next_change) and the rules fingerprint it was decided under. The next
run evaluates only the patients whose data was stamped since the shard's last whole check, whose
next_change has come, who were decided under other rules or who have a follow-up action acting by date;
for everyone else nothing can have changed, so no event is due, and the team totals come from the kept
standings. The first run of a shard, a replay of an earlier date, a dry run and `full` evaluate
everyone (so does a run that finds more than a quarter of the shard stale); a replay and a dry run
keep nothing (their evaluations decided no events), and a run for some teams only does not count as a
whole check. A pass over everyone that records (`netflow remind`: NETFLOW_WORKERS) can be split over
forked workers, each a bucket shard that records its own events and standings.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from netflow import __version__
from netflow.adapters.database import Database
from netflow.adapters.db import IdRange
from netflow.batching import batched
from netflow.cohort import team_guidelines
from netflow.domain.changes import Standing, rules_fingerprint, standing_of
from netflow.domain.engine import evaluate_stored
from netflow.domain.evaluation import WINDOW_STATUSES, Evaluation
from netflow.domain.events import NewEvent, PastEvent, decide_events
from netflow.domain.record import PatientRecord
from netflow.domain.rules import RuleBook, RuleSet
from netflow.reminders.follow_ups import apply_follow_ups

__all__ = ["TEAM_COUNTERS", "RecordResult", "counters_of", "record_run", "team_counters"]

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
    unchanged: int = 0  # patients whose kept standing was counted without evaluating them again
    full: bool = True  # everyone was evaluated
    new_events: list[NewEvent] = field(default_factory=list)  # kept only for dry runs

    def as_counts(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "evaluated": self.evaluated,
            "by_status": dict(sorted(self.by_status.items())),
            "events": {kind: n for kind, n in sorted(self.events.items()) if n},
            "teams": {team: dict(sorted(c.items())) for team, c in sorted(self.teams.items())},
            "replay": self.replay,
            "unchanged": self.unchanged,
            "full": self.full,
        }


def team_counters(evaluation: Evaluation) -> list[str]:
    """Which open-worklist counters this evaluation adds to."""
    return counters_of(evaluation.status, evaluation.escalation_level, evaluation.risk_tier)


def counters_of(status: str, escalation_level: int, risk_tier: str | None) -> list[str]:
    """team_counters from the parts it depends on (a kept standing's columns too)."""
    # domain.events.window_kind, from the parts
    kind = ("escalated" if escalation_level >= 2 else "overdue") if status == "overdue" else \
        status if status in ("due", "due_soon") else None
    names = [kind] if kind else []
    if status in WINDOW_STATUSES:
        names.append("under_surveillance")
        if risk_tier == "high":
            names.append("high_risk")
    elif status in ("needs_review", "not_indicated"):
        names.append(status)
    return names


T = TypeVar("T")
Item = tuple[PatientRecord, Evaluation, list[PastEvent]]
MIN_INCREMENTAL = 1000  # an incremental run evaluates up to a quarter of a shard (at least this many), else all


def _merge(items: Iterable[T], key: Callable[[T], str], others: Iterator[tuple[str, Any]]
           ) -> Iterator[tuple[T, Any]]:
    """Merge items with (patient_id, value) rows, both in code-point patient_id order: (item, value or None)."""
    pending = next(others, None)
    for item in items:
        pid = key(item)
        while pending is not None and pending[0] < pid:
            pending = next(others, None)
        if pending is not None and pending[0] == pid:
            yield item, pending[1]
            pending = next(others, None)
        else:
            yield item, None


def _ruleset(book: RuleBook, evaluation: Evaluation) -> RuleSet | None:
    guideline = evaluation.guideline
    return book[guideline] if guideline is not None and guideline in book.ids else None


def _pid(item: tuple[PatientRecord, Evaluation]) -> str:
    return item[0].patient_id


class _Pass:
    """One recording pass over some of a shard's patients: evaluate, decide, record, keep."""

    def __init__(self, db: Database, book: RuleBook, result: RecordResult, run_id: str, context: str, *,
                 teams: frozenset[str] | None, keep: bool, dry_run: bool) -> None:
        self.db, self.book, self.result, self.run_id, self.context = db, book, result, run_id, context
        self.teams, self.keep, self.dry_run = teams, keep, dry_run
        self.decided = 0  # patients evaluated and decided by this pass
        self.team_guidelines = team_guidelines(db, book)

    def items(self, records: Iterable[PatientRecord], history: Iterator[tuple[str, list[PastEvent]]]
              ) -> Iterator[Item]:
        """Each record evaluated, with its past events (`history` in code-point patient_id order)."""
        as_of, book, chosen = self.result.as_of, self.book, self.team_guidelines
        evaluated = ((record, evaluate_stored(record, as_of, book, chosen.get(record.care_team)))
                     for record in records)
        for (record, evaluation), past in _merge(evaluated, _pid, history):
            yield record, evaluation, past or []

    def run(self, items: Iterable[Item], *, count: bool) -> None:
        """Decide and record each batch's events, then keep the standings (after the events: a crash in
        between leaves a standing behind, evaluated again next run, never ahead)."""
        db, book, result = self.db, self.book, self.result
        tally: Counter[tuple[str, str, int, str | None]] = Counter()  # patients by what the counts need
        for batch in batched(items, BATCH):
            new: list[NewEvent] = []
            kept: list[Standing] = []
            actions = db.follow_ups.follow_ups_of([str(e.patient_id) for _, e, _ in batch])
            for record, evaluation, past in batch:
                team = evaluation.care_team or ""
                if self.teams is not None and team not in self.teams:
                    continue
                self.decided += 1
                rules = _ruleset(book, evaluation)
                if count:
                    tally[team, evaluation.status, evaluation.escalation_level, evaluation.risk_tier] += 1
                if not result.replay:
                    decided = decide_events(evaluation, past, None if rules is None else rules.version)
                    new.extend(apply_follow_ups(evaluation, past, decided, actions, book, result.events)
                               if actions else decided)
                if self.keep:
                    kept.append(standing_of(evaluation, rules, record))
            if self.dry_run:
                result.new_events.extend(new)
                result.events.update(e.kind for e in new)
            elif new:
                result.events.update(e.kind for e in db.ledger.record_events(new, result.as_of, self.run_id))
            if kept:
                db.state.save(kept, self.context)
        _add_counts(result, ((*key, n) for key, n in tally.items()))


def _add_counts(result: RecordResult, groups: Iterable[tuple[str | None, str, int, str | None, int]]) -> None:
    """Add (care_team, status, escalation_level, risk_tier, patients) groups to the counts and team totals."""
    for team, status, level, tier, n in groups:
        result.evaluated += n
        result.by_status[status] += n
        if status != "invalid":
            counters = result.teams.setdefault(team or "", Counter())
            for name in counters_of(status, level, tier):
                counters[name] += n


def _everyone(work: _Pass, shard: int, shards: int, workers: int = 1) -> None:
    """Evaluate every patient of the shard (and keep each standing, unless the pass keeps nothing); with
    `workers` > 1, in that many forked processes (see `_forked`)."""
    db = work.db
    if workers > 1 and not work.dry_run and "fork" in get_all_start_methods():
        _forked(work, shard, shards, workers)
    else:
        _walk(work, shard, shards)
    if work.keep and shards == 1 and work.teams is None:
        db.state.drop_missing()


def _walk(work: _Pass, shard: int, shards: int, id_range: IdRange = (None, None)) -> None:
    db = work.db
    with closing(db.ledger.iter_event_history(shard, shards, id_range)) as history:
        work.run(work.items(db.patients.stream_records(shard=shard, shards=shards, id_range=id_range), history),
                 count=True)


def _forked(work: _Pass, shard: int, shards: int, workers: int) -> None:
    """Walk the shard in `workers` forked processes: worker j takes range j of the shard's patient ids cut
    in `workers` (`id_cuts`: each reads only its part of the tables) and records its own events and
    standings, as a shard of the daily run would (each event is keyed by the database, so the split changes
    nothing); the parent adds up their counts.

    A first run spends most of its time evaluating and deciding, which the workers share. Fork keeps the
    start cheap (the rule book inherited) but is unsafe under Airflow's or Celery's threads: `netflow remind`
    only. A worker's failure is raised here once every worker has stopped; the run is then not finished (no
    whole check is noted), and a rerun records what is missing."""
    cuts: list[str | None] = list(work.db.patients.id_cuts(workers, shard=shard, shards=shards))
    context = get_context("fork")
    started = []
    try:
        for id_range in zip([None, *cuts], [*cuts, None], strict=True):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_worker, daemon=True, args=(work, shard, shards, id_range, writer))
            process.start()
            writer.close()  # the worker's end: once it exits, reading says so (EOFError)
            started.append((process, reader))
        outcomes = [_outcome(process, reader) for process, reader in started]
    finally:
        for process, reader in started:
            if process.is_alive():
                process.kill()
            process.join()
            reader.close()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    result = work.result
    for part, decided in outcomes:
        result.evaluated += part.evaluated
        result.by_status.update(part.by_status)
        result.events.update(part.events)
        for team, counts in part.teams.items():
            result.teams.setdefault(team, Counter()).update(counts)
        work.decided += decided


def _worker(work: _Pass, shard: int, shards: int, id_range: IdRange, writer: Connection) -> None:
    """One forked worker: walk its range, then send (its RecordResult, patients decided) or its exception."""
    work.db.engine.dispose(close=False)  # the parent's pooled connections are the parent's: open new ones
    try:
        _walk(work, shard, shards, id_range)
        message = pickle.dumps((work.result, work.decided), pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:
        try:
            message = pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exception that cannot be sent: its type only (no patient data)
            message = pickle.dumps(RuntimeError(f"a recording worker failed: {type(exc).__name__}"))
    try:
        writer.send_bytes(message)
    finally:
        writer.close()


def _outcome(process: Any, reader: Connection) -> Any:
    """What one worker sent: (RecordResult, decided) or the exception it raised."""
    try:
        return pickle.loads(reader.recv_bytes())
    except EOFError:
        process.join()
        return RuntimeError(f"a recording worker stopped (exit code {process.exitcode})")


def _changed(work: _Pass, stale: list[str], shard: int, shards: int) -> None:
    """Evaluate only the stale patients; the shard's counts come from the kept standings."""
    db, result = work.db, work.result
    for chunk in batched(stale, BATCH):
        history = db.ledger.event_history_of(chunk)
        work.run(work.items(db.state.records(chunk), iter(sorted(history.items()))), count=False)
    _add_counts(result, db.state.team_counts(shard, shards, work.teams))
    result.unchanged = result.evaluated - work.decided
    result.full = False


def record_run(db: Database, book: RuleBook, as_of: date, run_id: str, *, shard: int = 0, shards: int = 1,
               teams: frozenset[str] | None = None, dry_run: bool = False, full: bool = False, workers: int = 1
               ) -> RecordResult:
    """Evaluate one shard of the cohort and record its new events (nothing is written on a dry run).

    Only the patients whose evaluation can have changed since the last run are evaluated, unless `full`.
    Replaying an earlier date than one already run evaluates everyone but records nothing new. A pass
    over everyone runs in `workers` forked processes (the CLI's NETFLOW_WORKERS; never under Airflow).
    """
    started = db.state.check_started()  # before anything is read
    result = RecordResult(as_of)
    latest = db.ledger.begin_run(run_id, as_of, record=not dry_run)
    result.replay = latest is not None and as_of < latest
    keep = not (result.replay or dry_run)  # only a run that decides events keeps standings
    context = rules_fingerprint(book, db.patients.team_guidelines(), __version__)
    work = _Pass(db, book, result, run_id, context, teams=teams, keep=keep, dry_run=dry_run)
    stale = None
    if keep and not full:
        limit = max(MIN_INCREMENTAL, db.state.shard_size(shard, shards) // 4)
        stale = db.state.stale(as_of, context, shard, shards, limit=limit)
    if stale is not None:
        _changed(work, stale, shard, shards)
    else:
        _everyone(work, shard, shards, workers)
    if keep and teams is None:
        db.state.finish_check(shard, shards, started, as_of)
    return result
