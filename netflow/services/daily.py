"""The daily run, step by step: check, record (per shard), build, send, summary; and all of it at once.

    plan = check(inst, requested_as_of="", run_date=date(2026, 12, 1))  # as_of validated here, once
    parts = [record(inst, plan.as_of, run_id, shard=k, shards=plan.shards).as_counts() for k in range(...)]
    built = build(inst, recorded_on(parts), run_id, parts)
    sent = send(inst)
    summary(inst, recorded_on(parts), run_id, parts, built.as_counts(), sent.as_counts()).as_counts()

    remind(inst, date(2026, 12, 1), "manual-1").as_counts()            # the CLI: every step in one process

The DAG `net_surveillance_daily` runs the steps as tasks (record mapped over shards), the CLI
`netflow remind` runs `remind`. Every result has `.as_counts()`: counts and team keys only, safe for
logs, XCom and the `runs` table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from netflow.adapters.mail import MailerFactory, mailer_factory, write_eml
from netflow.as_of import LATEST_AS_OF, check_as_of, parse_as_of, settle_as_of, tomorrow
from netflow.domain.digest import check_worklist_url
from netflow.errors import ConfigurationError
from netflow.installation import Installation
from netflow.reminders.delivery import SendResult, send_pending
from netflow.reminders.digests import BuildResult, build_digests, letter_message
from netflow.reminders.recording import RecordResult, record_run

__all__ = ["LATEST_AS_OF", "DailyPlan", "RemindResult", "RunSummary", "build", "check", "check_as_of", "parse_as_of",
           "record", "recorded_on", "remind", "send", "settle_as_of", "summary", "team_totals", "tomorrow"]

@dataclass(frozen=True)
class DailyPlan:
    """What `check` settled for a run: the as-of date and the shards to record."""

    as_of: date
    shards: int

    def as_counts(self) -> list[dict[str, Any]]:
        """One entry per shard: the arguments a DAG maps `record` over."""
        return [{"as_of": self.as_of.isoformat(), "shard": k, "shards": self.shards} for k in range(self.shards)]


def recorded_on(recorded: Iterable[Mapping[str, Any]]) -> date:
    """The as-of date the shards' `record(...).as_counts()` were recorded on (the one `check` settled)."""
    dates = {part["as_of"] for part in recorded}
    if len(dates) != 1:
        raise ValueError(f"the shards were recorded on {len(dates)} different dates; expected one")
    return date.fromisoformat(dates.pop())


def check(inst: Installation, requested_as_of: str | None, run_date: date, *, allow_future: bool = False
          ) -> DailyPlan:
    """Fail early, with what to do, when the configuration or the database is not usable, and settle the
    run's as-of date: `requested_as_of` (a replay) when given, else `run_date`; a date after tomorrow (in
    the installation's time zone) only with `allow_future`."""
    settings = inst.settings
    as_of = settle_as_of(requested_as_of, run_date, timezone=settings.timezone, allow_future=allow_future)
    mailer_factory(settings)  # the SMTP URL and the sender and steward addresses (the send step builds it again)
    check_worklist_url(settings.worklist_url)
    if not (settings.templates_dir / "email").is_dir():
        raise ConfigurationError(f"the email templates are not at {settings.templates_dir}; "
                                 "set NETFLOW_TEMPLATES_DIR")
    inst.db.check_ready()
    return DailyPlan(as_of, settings.shards)


def record(inst: Installation, as_of: date, run_id: str, *, shard: int = 0, shards: int = 1,
           teams: frozenset[str] | None = None, dry_run: bool = False, full: bool = False, workers: int = 1
           ) -> RecordResult:
    """Evaluate one shard of the cohort and record its new events (each once, whatever the shard count).

    Only the patients whose evaluation can have changed since the last run are evaluated; `full`
    evaluates everyone (after a rules change, or to check). A pass over everyone forks `workers`
    processes: for the CLI only (a DAG task shards instead)."""
    return record_run(inst.db, inst.book, as_of, run_id, shard=shard, shards=shards, teams=teams, dry_run=dry_run,
                      full=full, workers=workers)


def team_totals(parts: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Each team's open-worklist counters, added up over the shards' `record(...).as_counts()`."""
    merged: dict[str, Counter[str]] = {}
    for part in parts:
        for team, counts in part["teams"].items():
            merged.setdefault(team, Counter()).update(counts)
    return {team: dict(c) for team, c in merged.items()}


def build(inst: Installation, as_of: date, run_id: str, recorded: Iterable[Mapping[str, Any]], *,
          teams: frozenset[str] | None = None, dry_run: bool = False) -> BuildResult:
    """One digest per care team (and the data steward's) into the outbox, with its events, in one transaction.

    A dry run's shards recorded nothing, so there is nothing to build (`remind` renders a dry run's digests)."""
    if dry_run:
        return BuildResult()
    return build_digests(inst.db, inst.settings, inst.book, as_of, run_id, team_totals(recorded), teams=teams)


def send(inst: Installation, teams: frozenset[str] | None = None, mailer: MailerFactory | None = None, *,
         dry_run: bool = False) -> SendResult:
    """The outbox over one SMTP connection; each message marked sent once the server accepted it."""
    if dry_run:
        return SendResult()
    return send_pending(inst.db, mailer or inst.mailer(), inst.settings.max_attempts, teams)


@dataclass(frozen=True)
class RunSummary:
    """One run's counts: what the summary task returns, the CLI prints and the `runs` table keeps."""

    as_of: date
    evaluated: int = 0
    by_status: Mapping[str, int] = field(default_factory=dict)
    events: Mapping[str, int] = field(default_factory=dict)
    digests: int = 0
    steward_digests: int = 0
    waiting_teams: Mapping[str, int] = field(default_factory=dict)
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    dry_run: bool = False

    @classmethod
    def of(cls, as_of: date, recorded: Iterable[Mapping[str, Any]], built: Mapping[str, Any],
           sent: Mapping[str, Any], *, dry_run: bool = False) -> RunSummary:
        """Add up the shards' record counts with the build and send counts."""
        by_status: Counter[str] = Counter()
        events: Counter[str] = Counter()
        evaluated = 0
        for part in recorded:
            evaluated += int(part["evaluated"])
            by_status.update(part["by_status"])
            events.update(part["events"])
        return cls(as_of, evaluated, dict(sorted(by_status.items())), dict(sorted(events.items())),
                   int(built.get("digests", 0)), int(built.get("steward_digests", 0)),
                   dict(sorted(built.get("waiting_teams", {}).items())), int(sent.get("sent", 0)),
                   int(sent.get("retrying", 0)), int(sent.get("failed", 0)), dry_run)

    def as_counts(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "evaluated": self.evaluated, "by_status": dict(self.by_status),
                "events": dict(self.events), "digests": self.digests, "steward_digests": self.steward_digests,
                "waiting_teams": dict(self.waiting_teams), "sent": self.sent, "retrying": self.retrying,
                "failed": self.failed, "dry_run": self.dry_run}

    def table(self) -> str:
        """A few aligned lines for a task log (counts only)."""
        lines = [f"netflow run summary for {self.as_of.isoformat()}" + (" (dry run)" if self.dry_run else "")]
        lines.append(f"  patients evaluated   {self.evaluated}")
        lines.extend(f"    {status:<18} {n}" for status, n in self.by_status.items())
        lines.extend(f"  event {kind:<14} {n}" for kind, n in self.events.items())
        lines.append(f"  digests built        {self.digests} (+{self.steward_digests} data steward)")
        lines.append(f"  sent / retrying / failed  {self.sent} / {self.retrying} / {self.failed}")
        return "\n".join(lines)


def summary(inst: Installation, as_of: date, run_id: str, recorded: Iterable[Mapping[str, Any]],
            built: Mapping[str, Any], sent: Mapping[str, Any], *, dry_run: bool = False) -> RunSummary:
    """The run's summary, kept in the `runs` table (not for a dry run, which recorded nothing)."""
    result = RunSummary.of(as_of, recorded, built, sent, dry_run=dry_run)
    if not dry_run:
        inst.db.ledger.finish_run(run_id, result.as_counts())
    return result


@dataclass
class RemindResult:
    """The whole daily path in one process: what each step did, and the run's summary."""

    recorded: RecordResult
    built: BuildResult
    sent: SendResult
    summary: RunSummary
    eml_files: list[Path] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.summary.dry_run

    def as_counts(self) -> dict[str, Any]:
        return self.summary.as_counts()


def _write_letters(result: BuildResult, inst: Installation, as_of: date, eml_dir: Path) -> list[Path]:
    paths = []
    for number, letter in enumerate(result.letters, start=1):
        name = f"{as_of.isoformat()}-{number:03d}-{letter.team_key or 'data-steward'}"
        paths.append(write_eml(eml_dir, letter_message(letter, inst.settings, as_of, number), name))
    return paths


def remind(inst: Installation, as_of: date, run_id: str, *, dry_run: bool = False, eml_dir: Path | None = None,
           teams: frozenset[str] | None = None, full: bool = False) -> RemindResult:
    """Evaluate and record events, build the digests, send the outbox, keep the summary.

    A dry run records and sends nothing: the digests it would send are built (with the events it
    would record) and, with `eml_dir`, written there as .eml files. The mail settings are checked
    before anything is recorded. `full`: evaluate every patient, not only those that can have changed.
    A pass over every patient (a first run, `full`) forks NETFLOW_WORKERS processes (`netflow remind`
    is the one caller of this function outside the tests; Airflow runs the steps, with one worker)."""
    inst.db.check_ready()
    mailer = None if dry_run else inst.mailer()
    recorded = record(inst, as_of, run_id, teams=teams, dry_run=dry_run, full=full, workers=inst.settings.workers)
    parts = [recorded.as_counts()]
    if dry_run:
        built = build_digests(inst.db, inst.settings, inst.book, as_of, run_id, team_totals(parts), teams=teams,
                              dry_run=True, dry_events=recorded.new_events)
        files = _write_letters(built, inst, as_of, eml_dir) if eml_dir else []
        outcome = SendResult()
        return RemindResult(recorded, built, outcome,
                            summary(inst, as_of, run_id, parts, built.as_counts(), outcome.as_counts(), dry_run=True),
                            files)
    built = build(inst, as_of, run_id, parts, teams=teams)
    outcome = send(inst, teams, mailer)
    return RemindResult(recorded, built, outcome,
                        summary(inst, as_of, run_id, parts, built.as_counts(), outcome.as_counts()))
