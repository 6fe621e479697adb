"""The use cases, each a few lines over the adapters: what the CLI and the DAG tasks call.

    result = remind(config, as_of=date(2026, 12, 1), run_id="manual-1")
    result.as_counts()   # counts only: safe for logs and XCom
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from netflow.adapters import ledger
from netflow.adapters.db import make_engine
from netflow.adapters.mail import Mailer, SmtpMailer, build_message, make_message_id, smtp_settings, write_eml
from netflow.config import ConfigError, Settings
from netflow.domain.rules import RuleBook
from netflow.guidelines import load_rulebook
from netflow.reminders.delivery import SendResult, send_pending
from netflow.reminders.digests import BuildResult, build_digests, check_mail_addresses, message_domain
from netflow.reminders.recording import RecordResult, record_run

__all__ = ["RemindResult", "remind", "record", "build", "send", "finish", "merge_team_totals", "rulebook_for",
           "smtp_mailer", "check_installation", "summarise", "steward_digest"]


def rulebook_for(config: Settings) -> RuleBook:
    return load_rulebook(config.ruleset_files, "nccn").with_default(config.default_guideline)


def smtp_mailer(config: Settings) -> Callable[[], Mailer]:
    """The installation's mailer; ConfigError when the SMTP URL or the sender or steward address is bad."""
    settings = smtp_settings(config)
    check_mail_addresses(config)
    return lambda: SmtpMailer(settings)


def merge_team_totals(parts: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    """Add up per-team worklist counters from several shards."""
    merged: dict[str, Counter[str]] = {}
    for part in parts:
        for team, counts in part.items():
            merged.setdefault(team, Counter()).update(counts)
    return {team: dict(c) for team, c in merged.items()}


def record(engine: Engine, book: RuleBook, as_of: date, run_id: str, *, shard: int = 0, shards: int = 1,
           teams: frozenset[str] | None = None, dry_run: bool = False) -> RecordResult:
    return record_run(engine, book, as_of, run_id, shard=shard, shards=shards, teams=teams, dry_run=dry_run)


def build(engine: Engine, config: Settings, book: RuleBook, as_of: date, run_id: str,
          totals: Mapping[str, Mapping[str, int]], *, teams: frozenset[str] | None = None) -> BuildResult:
    return build_digests(engine, config, book, as_of, run_id, totals, teams=teams)


def send(engine: Engine, config: Settings, mailer: Callable[[], Mailer] | None = None,
         teams: frozenset[str] | None = None) -> SendResult:
    return send_pending(engine, mailer or smtp_mailer(config), config.max_attempts, teams)


def check_installation(config: Settings) -> dict[str, Any]:
    """Fail early, with what to do, when the configuration or the database is not usable."""
    from netflow.adapters.db import is_migrated, safe_url
    from netflow.domain.digest import check_worklist_url

    book = rulebook_for(config)
    smtp_settings(config)
    check_mail_addresses(config)
    check_worklist_url(config.worklist_url)
    if not (config.templates_dir / "email").is_dir():
        raise ConfigError(f"the email templates are not at {config.templates_dir}; set NETFLOW_TEMPLATES_DIR")
    engine = make_engine(config.database_url)
    try:
        if not is_migrated(engine):
            raise ConfigError(f"the patient database {safe_url(config.database_url)} is not at the current "
                              "schema; run 'netflow db upgrade'")
    finally:
        engine.dispose()
    return {"rule_sets": list(book.ids), "shards": config.shards}


def summarise(recorded: Iterable[Mapping[str, Any]], built: Mapping[str, Any], sent: Mapping[str, Any]
              ) -> dict[str, Any]:
    """One run's counts from its shards, build and send results (counts and team keys only)."""
    by_status: Counter[str] = Counter()
    events: Counter[str] = Counter()
    evaluated = 0
    for part in recorded:
        evaluated += int(part["evaluated"])
        by_status.update(part["by_status"])
        events.update(part["events"])
    return {"evaluated": evaluated, "by_status": dict(sorted(by_status.items())),
            "events": dict(sorted(events.items())), "digests": built.get("digests", 0),
            "steward_digests": built.get("steward_digests", 0), "waiting_teams": built.get("waiting_teams", {}),
            "sent": sent.get("sent", 0), "retrying": sent.get("retrying", 0), "failed": sent.get("failed", 0),
            "dry_run": bool(built.get("dry_run", False))}


def steward_digest(engine: Engine, config: Settings, as_of: date, run_id: str,
                   mailer: Callable[[], Mailer] | None = None) -> SendResult:
    """Put the quarantined records not yet reported into the data steward's digest, and send the outbox."""
    build_digests(engine, config, rulebook_for(config), as_of, run_id, {}, teams=frozenset(), steward_only=True)
    return send(engine, config, mailer)


def finish(engine: Engine, run_id: str, summary: dict[str, Any]) -> None:
    with engine.begin() as conn:
        ledger.finish_run(conn, run_id, summary)


@dataclass
class RemindResult:
    recorded: RecordResult
    built: BuildResult
    sent: SendResult = field(default_factory=SendResult)
    dry_run: bool = False
    eml_files: list[Path] = field(default_factory=list)

    def as_counts(self) -> dict[str, Any]:
        return {
            **self.recorded.as_counts(),
            "digests": self.built.digests,
            "steward_digests": self.built.steward_digests,
            "waiting_teams": dict(sorted(self.built.waiting.items())),
            "sent": self.sent.sent,
            "retrying": self.sent.retrying,
            "failed": self.sent.failed,
            "dry_run": self.dry_run,
        }


def _write_letters(result: BuildResult, config: Settings, as_of: date, eml_dir: Path) -> list[Path]:
    paths = []
    for number, letter in enumerate(result.letters, start=1):
        message = build_message(sender=config.mail_from, to=letter.to, cc=letter.cc, subject=letter.subject,
                                text=letter.body_text, html=letter.body_html,
                                message_id=make_message_id(number, message_domain(config), as_of=as_of))
        name = f"{as_of.isoformat()}-{number:03d}-{letter.team_key or 'data-steward'}"
        paths.append(write_eml(eml_dir, message, name))
    return paths


def remind(config: Settings, as_of: date, run_id: str, *, engine: Engine | None = None,
           mailer: Callable[[], Mailer] | None = None, dry_run: bool = False, eml_dir: Path | None = None,
           teams: frozenset[str] | None = None) -> RemindResult:
    """The whole daily path: evaluate and record events, build the digests, send the outbox."""
    engine = engine or make_engine(config.database_url)
    book = rulebook_for(config)
    recorded = record(engine, book, as_of, run_id, teams=teams, dry_run=dry_run)
    if dry_run:
        built = build_digests(engine, config, book, as_of, run_id, recorded.teams, teams=teams, dry_run=True,
                              dry_events=recorded.new_events)
        files = _write_letters(built, config, as_of, eml_dir) if eml_dir else []
        return RemindResult(recorded, built, dry_run=True, eml_files=files)
    built = build(engine, config, book, as_of, run_id, recorded.teams, teams=teams)
    result = RemindResult(recorded, built, send(engine, config, mailer, teams))
    finish(engine, run_id, result.as_counts())
    return result
