"""Issue 13: incremental daily runs agree with full ones on a large cohort replayed day after day.

    .venv/bin/python -m bench.replay --size 100000 --days 30 --backend sqlite
    .venv/bin/python -m bench.replay --size 1000000 --source /path/to/imported.db   # copy an imported database

Two copies of one loaded database, A and B. A baseline run on the day before --as-of evaluates everyone in
both; then on each day D the same seeded data change goes into both through `netflow import` of a small
JSON Lines file (about --rate of the cohort: new scans, some dated after D, recurrences and deaths, changed
pathology fields, new patients), and `netflow remind --as-of D` runs on A as the daily run does (only the
patients whose evaluation can have changed) and with `--full` on B, both sending to a local mail catcher so
that the ledger records. The day's events (patient, team, kind, key, window, as-of date, payload; not ids
or timestamps), every patient's standing (patient_state but its as_of and updated_at: an unchanged
patient keeps the date it was last evaluated on) and the day's digests (A's team totals come from the kept
standings, B's from its evaluations; the patients' random references masked) must be the same in A and B.

The clock: a month of runs takes an hour, but netflow.adapters.state.MARGIN looks again at data stamped
within 6 hours of the last check, by the wall clock. So the loaded cohort is stamped `aged(days)` earlier before
the baseline (as bench/figures.py `_age_data` does), and after each day every stamp the replay wrote (the
day's imports, state_checks.started_at) moves one day back, as if a day passed between the runs: a day's
changes are stale for the next run and the one after (the margin), then no longer.

Writes one section per (size, backend) of bench/replay.md after each day, so a long run shows its progress;
the patient ids of any difference go to differences.txt in the work folder, never to the report.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import psycopg

from bench.cohorts import POSTGRES_ADMIN, Database, cohort_files, netflow
from bench.measure import python_env, timed
from netflow.adapters.patients import PATIENT_FIELDS
from netflow.domain.record import MODALITIES

__all__ = ["Day", "Diff", "Ran", "Replay", "Runner", "compare", "main", "prepare"]

ROOT = Path(__file__).resolve().parent.parent
LEDGER_TABLES = ("events", "outbox", "runs", "patient_state", "state_checks")
STAMPS = (("patients", "created_at"), ("patients", "updated_at"), ("imaging_studies", "created_at"),
          ("follow_ups", "recorded_at"))
KINDS = ("scan", "scan", "scan", "scan", "pathology", "pathology", "status", "new", "new")  # weights by repetition
STATE_COLUMNS = ("patient_id", "care_team", "status", "guideline", "rule_id", "risk_tier", "risk_reasons",
                 "review_reasons", "last_scan", "window_open", "window_close", "overdue_from", "escalation_level",
                 "recommended_modality", "next_change", "context")
EVENT_COLUMNS = ("patient_id", "care_team", "kind", "event_key", "window_open", "as_of", "payload")
# A patient's opaque reference is random, set when the patient is first stored: a newcomer's differs in A and B
REF = re.compile(r"(/patients/)[A-Za-z0-9_-]+")
CHUNK = 500


@dataclass(frozen=True)
class Ran:
    seconds: float
    stdout: str


Runner = Callable[[Database, Sequence[str]], Ran]


def subprocess_runner(env: dict[str, str]) -> Runner:
    """Each command a child process, timed (the default)."""
    def run(db: Database, args: Sequence[str]) -> Ran:
        child = timed(netflow(*args), {**env, "NETFLOW_DATABASE_URL": db.url}, capture=True)
        return Ran(child.seconds, child.stdout)
    return run


# --- the databases -------------------------------------------------------------------------------------

def _sql(db: Database, query: str) -> str:
    return query.replace("?", "%s").replace("{C}", ' COLLATE "C"') if db.backend == "postgresql" \
        else query.replace("{C}", "")


def _dsn(db: Database) -> str:
    return f"host=127.0.0.1 port=5432 user=postgres dbname={db.name}"


def rows(db: Database, query: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
    """The rows of one query, streamed; `?` placeholders, `{C}` where PostgreSQL must order by code point."""
    if db.backend == "sqlite":
        with closing(sqlite3.connect(db.name)) as conn:
            yield from conn.execute(_sql(db, query), tuple(params))
        return
    with psycopg.connect(_dsn(db)) as server, server.cursor(name="replay") as cursor:
        cursor.execute(_sql(db, query).encode(), tuple(params))
        yield from cursor


def execute(db: Database, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
    """Run these statements in one transaction."""
    if db.backend == "sqlite":
        with closing(sqlite3.connect(db.name)) as conn, conn:
            for query, params in statements:
                conn.execute(query, tuple(params))
        return
    with psycopg.connect(_dsn(db)) as server:
        for query, params in statements:
            server.execute(_sql(db, query).encode(), tuple(params))


def aged(days: int) -> timedelta:
    """How far back the loaded cohort is stamped before the baseline: behind the last check of the last day."""
    return timedelta(days=days + 30)


def move_stamps(db: Database, back: timedelta, since: datetime | None) -> None:
    """Move every stamp netflow.adapters.state reads (stamped at or after `since`, if given) and the shards'
    last checks `back` into the past: time passes for the data without waiting for it."""
    days = back.days
    shifted = (f"datetime({{c}}, '-{days} days') || substr({{c}}, 20)" if db.backend == "sqlite"
               else f"{{c}} - interval '{days} days'")
    where = " WHERE {c} >= ?" if since else " WHERE {c} IS NOT NULL"
    bound: list[Any] = []
    if since is not None:  # SQLite keeps naive UTC text: compare as text
        bound.append(since if db.backend == "postgresql"
                     else since.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds"))
    statements = [(f"UPDATE {table} SET {{c}} = {shifted}{where}".format(c=column), bound)
                  for table, column in STAMPS]
    statements.append((f"UPDATE state_checks SET started_at = {shifted}".format(c="started_at"), []))
    execute(db, statements)


def prepare(a: Database, b: Database, source: str | None, cohort: Callable[[], tuple[Path, Path]],
            run: Runner, days: int) -> None:
    """A: the source database copied (or the cohort imported: `cohort` gives its JSON Lines and teams files),
    its ledger emptied and its data aged; B: a copy of A."""
    a.drop()
    if source and a.backend == "sqlite":
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, \
                closing(sqlite3.connect(a.name)) as dst:
            src.backup(dst)
    elif source:
        Database.postgres(source).copy_to(a)
    elif a.backend == "postgresql":
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{a.name}"'.encode())
    run(a, ["db", "upgrade"])
    if not source:
        jsonl, teams = cohort()
        run(a, ["teams", "load", str(teams)])
        run(a, ["import", str(jsonl)])
    execute(a, [(f"DELETE FROM {table}", []) for table in LEDGER_TABLES])
    move_stamps(a, aged(days), None)
    a.copy_to(b)


# --- the day's data change -------------------------------------------------------------------------------

def _plain(name: str, value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if name == "lymphovascular_invasion" and value is not None:
        return bool(value)
    return value


def stored_records(db: Database, patient_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """These patients as import records (JSON Lines objects), with their imaging in stored order."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(patient_ids), CHUNK):
        chunk = list(patient_ids[start:start + CHUNK])
        marks = ", ".join("?" * len(chunk))
        for row in rows(db, f"SELECT {', '.join(PATIENT_FIELDS)} FROM patients WHERE patient_id IN ({marks})",
                        chunk):
            found[row[0]] = {name: _plain(name, v) for name, v in zip(PATIENT_FIELDS, row, strict=True)}
            found[row[0]]["imaging"] = []
        for pid, when, modality in rows(db, "SELECT patient_id, date, modality FROM imaging_studies WHERE "
                                            f"patient_id IN ({marks}) ORDER BY id", chunk):
            found[pid]["imaging"].append({"date": _plain("date", when), "modality": modality})
    return found


def _change(rng: random.Random, kind: str, record: dict[str, Any], day: date) -> None:
    if kind == "scan":  # one in ten dated after the run: it counts from its date on (next_change)
        offset = rng.randint(1, 10) if rng.random() < 0.1 else -rng.randint(0, 60)
        modality = rng.choice(("CT", "MRI", "CT", "MRI", *MODALITIES))  # some do not count under their rule
        record["imaging"].append({"date": (day + timedelta(days=offset)).isoformat(), "modality": modality})
    elif kind == "status":
        offset = rng.randint(1, 5) if rng.random() < 0.15 else -rng.randint(0, 30)
        record["status"] = rng.choice(("recurrence", "deceased"))
        record["status_date"] = (day + timedelta(days=offset)).isoformat()
    elif record.get("nodes_examined") and rng.random() < 0.3:
        record["nodes_positive"] = rng.randint(0, int(record["nodes_examined"]))
    else:
        name = rng.choice(("ki67_percent", "tumor_size_mm", "margin"))
        record[name] = (round(rng.uniform(0.5, 40.0), 1) if name == "ki67_percent"
                        else rng.randint(4, 60) if name == "tumor_size_mm" else rng.choice(("R0", "R1")))


def _newcomer(rng: random.Random, like: dict[str, Any], patient_id: str, day: date) -> dict[str, Any]:
    """A new patient like a stored one: resected 1 to 96 months ago, with a few scans since."""
    resected = day - timedelta(days=rng.randint(30, 2900))
    scans = sorted(rng.sample(range(1, (day - resected).days + 1), k=min(rng.randint(0, 4), (day - resected).days)))
    return {**like, "patient_id": patient_id, "name": "Replay Newcomer", "resection_date": resected.isoformat(),
            "status": "active", "status_date": None,
            "imaging": [{"date": (resected + timedelta(days=n)).isoformat(), "modality": rng.choice(("CT", "MRI"))}
                        for n in scans]}


def day_changes(db: Database, pool: list[str], day: date, rate: float, seed: int) -> tuple[list[dict[str, Any]],
                                                                                             Counter[str]]:
    """The day's records to import (the same for the same seed, day and pool) and how many of each change."""
    rng = random.Random(f"replay-{seed}-{day.isoformat()}")
    kinds = [rng.choice(KINDS) for _ in range(max(3, round(len(pool) * rate)))]
    chosen = [rng.choice(pool) for _ in kinds]
    stored = stored_records(db, sorted(set(chosen)))
    out: dict[str, dict[str, Any]] = {}
    for number, (kind, pid) in enumerate(zip(kinds, chosen, strict=True)):
        if pid not in stored:  # a newcomer the import quarantined
            continue
        if kind == "new":
            new_id = f"RPL{day:%Y%m%d}{number:05d}"
            out[new_id] = _newcomer(rng, stored[pid], new_id, day)
            pool.append(new_id)
        else:
            _change(rng, kind, out.setdefault(pid, json.loads(json.dumps(stored[pid]))), day)
    return list(out.values()), Counter(kinds)


# --- comparing A with B ----------------------------------------------------------------------------------

@dataclass
class Diff:
    rows_a: int = 0
    rows_b: int = 0
    keys: list[str] = field(default_factory=list)  # the patient ids (or digests) whose rows differ: never printed


def _by_patient(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[str, Counter[tuple[Any, ...]]]]:
    for pid, group in groupby(rows, key=itemgetter(0)):
        yield str(pid), Counter(group)


def compare(a: Iterable[tuple[Any, ...]], b: Iterable[tuple[Any, ...]]) -> Diff:
    """Rows ordered by patient id (their first column), compared patient by patient as multisets."""
    diff = Diff()
    left, right = _by_patient(a), _by_patient(b)
    one, two = next(left, None), next(right, None)
    while one is not None or two is not None:
        if two is None or (one is not None and one[0] < two[0]):
            assert one is not None
            diff.rows_a += one[1].total()
            diff.keys.append(one[0])
            one = next(left, None)
        elif one is None or two[0] < one[0]:
            diff.rows_b += two[1].total()
            diff.keys.append(two[0])
            two = next(right, None)
        else:
            diff.rows_a += one[1].total()
            diff.rows_b += two[1].total()
            if one[1] != two[1]:
                diff.keys.append(one[0])
            one, two = next(left, None), next(right, None)
    return diff


def events_of(db: Database, run_id: str) -> Iterator[tuple[Any, ...]]:
    return rows(db, f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE run_id = ? ORDER BY patient_id{{C}}",
                [run_id])


def standings_of(db: Database) -> Iterator[tuple[Any, ...]]:
    return rows(db, f"SELECT {', '.join(STATE_COLUMNS)} FROM patient_state ORDER BY patient_id{{C}}")


def digests_of(db: Database, run_id: str) -> list[tuple[Any, ...]]:
    """The run's messages (kind/team, subject, addresses, text and HTML bodies with the references masked):
    an incremental run's team totals come from the kept standings, a full run's from its evaluations."""
    found = [(f"{kind}/{team}", subject, to, cc, REF.sub(r"\1-", text), REF.sub(r"\1-", html))
             for kind, team, subject, to, cc, text, html in rows(
                 db, "SELECT kind, team_key, subject, to_addrs, cc_addrs, body_text, body_html FROM outbox "
                     "WHERE run_id = ?", [run_id])]
    return sorted(found, key=itemgetter(0))


# --- the replay --------------------------------------------------------------------------------------------

@dataclass
class Day:
    day: date
    changes: int
    events: Diff
    standings: Diff
    digests: Diff
    evaluated_a: int  # patients A evaluated again (the rest kept their standing)
    patients: int
    seconds_a: float
    seconds_b: float
    import_seconds: float
    baseline: bool = False

    @property
    def differences(self) -> int:
        return len(self.events.keys) + len(self.standings.keys) + len(self.digests.keys)

    def line(self) -> str:
        label = f"{self.day} (baseline)" if self.baseline else str(self.day)
        return (f"{label}: changes {self.changes:,}; events A/B {self.events.rows_a:,}/{self.events.rows_b:,}, "
                f"patients differing {len(self.events.keys)}; state rows differing {len(self.standings.keys)}; "
                f"digests differing {len(self.digests.keys)} of {self.digests.rows_b}; "
                f"A evaluated {self.evaluated_a:,} of {self.patients:,}; "
                f"seconds A/B {self.seconds_a:.1f}/{self.seconds_b:.1f} (import {self.import_seconds:.1f})")


EVALUATED = re.compile(r"^(\d+) patients evaluated on [\d-]+(?:, (\d+) of them unchanged)?", re.MULTILINE)


def _evaluated(stdout: str) -> tuple[int, int]:
    """(evaluated again, patients) from `netflow remind`'s first line."""
    found = EVALUATED.search(stdout)
    if found is None or "sent:" not in stdout:
        raise RuntimeError(f"netflow remind did not finish as expected: {stdout[:200]!r}")
    total, unchanged = int(found[1]), int(found[2] or 0)
    return total - unchanged, total


class Replay:
    """A and B, prepared by `prepare`, replayed one day at a time."""

    def __init__(self, a: Database, b: Database, run: Runner, folder: Path, *, days: int, seed: int = 7,
                 rate: float = 0.001) -> None:
        self.a, self.b, self.run, self.folder, self.seed, self.rate = a, b, run, folder, seed, rate
        self.pool = sorted(str(pid) for (pid,) in rows(a, "SELECT patient_id FROM patients"))
        self.days: list[Day] = []
        # Stamps written by the replay (after this) move back a day each day, at most days + 1 of them
        self.since = datetime.now(UTC) - timedelta(days=days + 2)

    def one_day(self, day: date, *, baseline: bool = False) -> Day:
        changes = 0
        import_seconds = 0.0
        if not baseline:
            records, kinds = day_changes(self.a, self.pool, day, self.rate, self.seed)
            path = self.folder / f"changes-{day}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
            import_seconds = sum(self.run(db, ["import", str(path)]).seconds for db in (self.a, self.b)) / 2
            changes = sum(kinds.values())
        run_id = f"replay-{day}"
        remind = ["remind", "--as-of", day.isoformat(), "--allow-future", "--run-id", run_id]  # a month ahead
        fast = self.run(self.a, remind)
        slow = self.run(self.b, [*remind, "--full"])
        evaluated, patients = _evaluated(fast.stdout)
        if _evaluated(slow.stdout)[1] != patients:
            raise RuntimeError("A and B evaluated different numbers of patients")
        found = Day(day, changes, compare(events_of(self.a, run_id), events_of(self.b, run_id)),
                    compare(standings_of(self.a), standings_of(self.b)),
                    compare(digests_of(self.a, run_id), digests_of(self.b, run_id)), evaluated, patients,
                    fast.seconds, slow.seconds, import_seconds, baseline)
        for db in (self.a, self.b):  # a day passes (see the module docstring)
            move_stamps(db, timedelta(days=1), self.since)
        if found.differences:
            with (self.folder / "differences.txt").open("a", encoding="utf-8") as out:
                out.write(f"{day}: events {' '.join(found.events.keys)}; standings {' '.join(found.standings.keys)}; "
                          f"digests {' '.join(found.digests.keys)}\n")
        self.days.append(found)
        return found

    def replay(self, first: date, days: int, each: Callable[[Day], None] = lambda day: None) -> list[Day]:
        """The baseline (the day before `first`), then `days` days from `first`."""
        each(self.one_day(first - timedelta(days=1), baseline=True))
        for n in range(days):
            each(self.one_day(first + timedelta(days=n)))
        return self.days


# --- the report --------------------------------------------------------------------------------------------

def section(days: list[Day], size: int, backend: str, command: str, planned: int, note: str = "") -> str:
    replayed = [d for d in days if not d.baseline]
    differing = sum(d.differences for d in days)

    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} s" if values else "-"

    lines = [
        f"## {size:,} patients, {backend}", "",
        f"Run: `{command}`; as-of dates {days[0].day if days else '-'} to {days[-1].day if days else '-'}; "
        f"written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Seconds are wall times of the child processes on a "
        "shared 2-core machine (other jobs running): noisy, for orientation only." + (f" {note}" if note else ""),
        "",
        f"- days replayed: {len(replayed)} of {planned} (after a baseline day on which both evaluate everyone)",
        f"- patients: {days[0].patients:,} at the start, {days[-1].patients:,} at the end" if days else "- patients: -",
        f"- data changes imported: {sum(d.changes for d in replayed):,}",
        f"- events recorded on the replayed days: A {sum(d.events.rows_a for d in replayed):,}, "
        f"B {sum(d.events.rows_b for d in replayed):,}",
        f"- **differences found: {differing}** (patients whose day's events or standing differ, and digests "
        "that differ, over all days)",
        f"- time per day (median): A incremental {median([d.seconds_a for d in replayed])}, B full "
        f"{median([d.seconds_b for d in replayed])}, import {median([d.import_seconds for d in replayed])}; "
        f"A evaluated {statistics.median([d.evaluated_a for d in replayed]) if replayed else 0:,.0f} patients "
        "a day (median)", "",
        "| day | changes | events A | events B | event patients differing | state rows differing | "
        "digests differing | evaluated by A | s A | s B |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {d.day}{' (baseline)' if d.baseline else ''} | {d.changes:,} | {d.events.rows_a:,} | "
              f"{d.events.rows_b:,} | {len(d.events.keys)} | {len(d.standings.keys)} | "
              f"{len(d.digests.keys)} of {d.digests.rows_b} | "
              f"{d.evaluated_a:,} of {d.patients:,} | {d.seconds_a:.1f} | {d.seconds_b:.1f} |" for d in days]
    return "\n".join(lines) + "\n"


def write_section(path: Path, title: str, body: str) -> None:
    """Replace (or add) the section starting with `title` in the report, keeping the others."""
    head = ("# Incremental and full daily runs on a replayed cohort (issue 13)\n\n"
            "Generated by `python -m bench.replay` (bench/replay.py); do not edit by hand.\n")
    kept = []
    if path.exists():
        parts = path.read_text(encoding="utf-8").split("\n## ")
        kept = ["## " + p.rstrip("\n") + "\n" for p in parts[1:] if not p.startswith(title.removeprefix("## "))]
    sections = sorted([*kept, body], key=lambda s: s.splitlines()[0])
    path.write_text(head + "".join("\n" + s for s in sections), encoding="utf-8")


# --- the command -------------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="cohort size (default 100000)")
    parser.add_argument("--days", type=int, default=30, help="days replayed after the baseline (default 30)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 12, 1),
                        help="the first replayed day (default 2026-12-01)")
    parser.add_argument("--rate", type=float, default=0.001, help="data changes a day per patient (default 0.001)")
    parser.add_argument("--seed", type=int, default=7, help="cohort and change seed (default 7)")
    parser.add_argument("--source", help="an imported database to copy (SQLite: its file; PostgreSQL: its name) "
                                         "instead of importing the cohort")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench", help="cohorts and databases")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "replay.md")
    parser.add_argument("--keep", action="store_true", help="keep A and B afterwards (kept anyway on a difference)")
    parser.add_argument("--note", default="", help="a sentence for the report (which code was run, say)")
    return parser.parse_args(argv)


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    from bench.run import start_mailcatcher

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    folder = args.workdir / f"replay-{args.size}-{args.backend}"
    folder.mkdir(parents=True, exist_ok=True)
    env = python_env(os.environ)
    if args.backend == "sqlite":
        a, b = Database.sqlite(folder / "a.db"), Database.sqlite(folder / "b.db")
    else:
        a, b = Database.postgres(f"netflow_replay_a_{args.size}"), Database.postgres(f"netflow_replay_b_{args.size}")
    mail = Path(tempfile.mkdtemp(prefix="netflow-replay-mail-"))
    catcher, port = start_mailcatcher(mail, env)
    env["NETFLOW_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    run = subprocess_runner(env)
    command = shlex.join(["python", "-m", "bench.replay", *(sys.argv[1:] if argv is None else argv)])
    title = f"## {args.size:,} patients, {args.backend}"
    replay: Replay | None = None
    try:
        def files() -> tuple[Path, Path]:
            cohort = cohort_files(args.workdir, args.size, args.seed, env)
            return cohort.jsonl, cohort.teams

        started = time.perf_counter()
        print(f"replay: {args.size:,} patients, {args.backend}, {args.days} days from {args.as_of}", flush=True)
        prepare(a, b, args.source, files, run, args.days)
        print(f"  A and B ready in {time.perf_counter() - started:.0f} s", flush=True)
        replay = Replay(a, b, run, folder, days=args.days, seed=args.seed, rate=args.rate)

        def each(day: Day) -> None:
            print("  " + day.line(), flush=True)
            write_section(args.out, title, section(replay.days if replay else [day], args.size, args.backend,
                                                   command, args.days, args.note))

        days = replay.replay(args.as_of, args.days, each)
    finally:
        catcher.send_signal(signal.SIGTERM)
        catcher.wait(timeout=30)
        shutil.rmtree(mail, ignore_errors=True)
        differing = replay is not None and any(d.differences for d in replay.days)
        if not (args.keep or differing):
            a.drop()
            b.drop()
    found = sum(d.differences for d in days)
    print(f"differences found: {found}" + (f" (patient ids in {folder / 'differences.txt'})" if found else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
