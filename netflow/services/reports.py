"""The weekly report and the data steward's digest (the `net_weekly_report` DAG, `netflow report`).

    weekly_report(inst, date(2026, 12, 7), "weekly-2026W50").as_counts()    # each team's report, once a week
    steward_digest(inst, date(2026, 12, 7), "weekly-2026W50")               # quarantined rows not yet reported

How a report is measured, addressed and kept from going out twice: `netflow.reports`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from netflow.adapters.mail import MailerFactory, message_domain, write_eml
from netflow.domain.metrics import TeamMetrics, iso_week
from netflow.domain.teams import CareTeam
from netflow.errors import DeliveryError
from netflow.installation import Installation
from netflow.reminders.delivery import SendResult, deliver, outage_line, send_pending
from netflow.reminders.digests import build_digests
from netflow.reports.letters import STEWARD, ReportLetter, Week, token
from netflow.reports.metrics import team_metrics

__all__ = ["ReportResult", "steward_digest", "weekly_report"]

log = logging.getLogger(__name__)


@dataclass
class ReportResult:
    """What a weekly report run did: counts and team keys only (safe for logs and XCom)."""

    week: str
    dry_run: bool = False
    built: list[str] = field(default_factory=list)  # reports rendered (team keys; STEWARD)
    sent: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # teams with patients but no usable configuration
    empty: list[str] = field(default_factory=list)  # configured teams without patients or closures
    problems: list[str] = field(default_factory=list)  # "team: what went wrong", no patient data
    metrics: dict[str, TeamMetrics] = field(default_factory=dict)
    eml_files: list[Path] = field(default_factory=list)
    outage: str | None = None  # the mail server could not be used: what is wrong and what to do (one line)

    @property
    def ok(self) -> bool:
        return not self.failed and self.outage is None

    def as_counts(self) -> dict[str, Any]:
        return {
            "week": self.week, "dry_run": self.dry_run, "reports": len(self.built), "sent": len(self.sent),
            "already_sent": len(self.already_sent), "failed": len(self.failed),
            "sent_teams": sorted(self.sent), "failed_teams": sorted(self.failed),
            "waiting_teams": sorted(self.waiting), "empty_teams": sorted(self.empty),
            "teams": {key: m.as_counts() for key, m in sorted(self.metrics.items())},
        }


def _select(metrics: Mapping[str, TeamMetrics], directory: Mapping[str, CareTeam], teams: frozenset[str] | None,
            as_of: date, result: ReportResult) -> list[tuple[TeamMetrics, CareTeam]]:
    """The teams that get a report; the others are counted as waiting (no configuration) or empty."""
    chosen = []
    for key in sorted(teams if teams is not None else set(metrics) | set(directory)):
        m, team = metrics.get(key) or TeamMetrics(key, as_of), directory.get(key)
        if team is None or not (team.leads or team.navigators):
            if m.patients or teams is not None:
                result.waiting.append(key)
        elif m.patients == 0 and m.closed == 0:
            result.empty.append(key)
        else:
            chosen.append((m, team))
    return chosen


def _letters(week: Week, chosen: list[tuple[TeamMetrics, CareTeam]], steward: Mapping[str, TeamMetrics] | None,
             open_quarantine: int, done: set[str], result: ReportResult,
             outbox: Mapping[str, int] | None = None) -> list[ReportLetter]:
    """Render the reports whose Message-ID is not in `done` (`steward`: every team's metrics, or None;
    `outbox`: messages by status, whose pending and failed digests the steward's report names)."""
    letters = []
    for m, team in chosen:
        if week.message_id(team.key) in done:
            result.already_sent.append(team.key)
        else:
            letters.append(week.team_letter(m, team))
    if steward is not None and week.message_id(None) in done:
        result.already_sent.append(STEWARD)
    elif steward is not None and (letter := week.steward_letter(steward, open_quarantine, result.waiting, outbox)):
        letters.append(letter)
    result.built.extend(letter.key for letter in letters)
    return letters


def _send(inst: Installation, week: Week, letters: list[ReportLetter], mailer: MailerFactory,
          result: ReportResult) -> None:
    """Over one connection; each report recorded in the outbox (status sent) once the server accepted it.

    A report is kept nowhere until it is sent, so a report that was not sent is simply sent by the rerun.
    If the server cannot be used (an outage), the reports not sent are `failed` here and `result.outage`
    says what is wrong: `weekly_report` then fails the run with that line."""
    sender = inst.settings.mail_from

    def sent(letter: ReportLetter) -> None:
        with inst.db.transaction() as tx:
            tx.outbox.create_outbox_message(
                kind=letter.kind, team_key=letter.team_key, run_id=week.run_id, as_of=week.as_of,
                message_id=letter.message_id, subject=letter.subject, sender=sender, to=letter.to, cc=(),
                body_text=letter.body_text, body_html=letter.body_html, status="sent")
        result.sent.append(letter.key)

    def failed(letter: ReportLetter, error: str, _permanent: bool) -> None:
        result.failed.append(letter.key)
        result.problems.append(f"{letter.key}: {error}")

    def held(unsent: Sequence[ReportLetter], error: str) -> None:
        for letter in unsent:
            failed(letter, error, False)

    outage = deliver(letters, lambda letter: letter.message(sender), mailer, sent=sent, failed=failed, held=held)
    if outage is not None:
        unsent = len(letters) - len(result.sent)
        result.outage = outage_line(outage, len(result.sent), unsent, what="report", kept="unsent, for the rerun")


def weekly_report(inst: Installation, as_of: date, run_id: str, *, dry_run: bool = False,
                  eml_dir: Path | None = None, teams: Iterable[str] | None = None) -> ReportResult:
    """Measure every team on `as_of` and send each selected team its report for the ISO week, once.

    `teams`: only these care teams, and no data steward report (which also names the digests still pending
    or failed in the outbox). A dry run renders every report (and writes each as .eml to `eml_dir`, if
    given), and sends and records nothing. When the mail server cannot be used (cannot connect, TLS, login),
    the reports not sent stay unsent and DeliveryError fails the run with what to do; the rerun sends them."""
    inst.db.check_ready()
    selected = frozenset(teams) if teams is not None else None
    result = ReportResult(week=iso_week(as_of), dry_run=dry_run)
    week = Week(inst.settings, inst.book, as_of, run_id, message_domain(inst.settings))
    metrics = team_metrics(inst.db, inst.book, as_of)
    directory = inst.db.patients.care_teams()
    open_quarantine = inst.db.patients.open_quarantine_count() if selected is None else 0
    chosen = _select(metrics, directory, selected, as_of, result)
    result.metrics = {m.team_key: m for m, _ in chosen}
    steward = metrics if selected is None else None
    outbox = inst.db.outbox.outbox_counts() if steward is not None else None
    if dry_run:
        for letter in _letters(week, chosen, steward, open_quarantine, set(), result, outbox):
            if eml_dir is not None:
                name = f"{as_of.isoformat()}-report-{token(letter.key.replace(' ', '-'))}"
                result.eml_files.append(write_eml(eml_dir, letter.message(inst.settings.mail_from), name))
        return result
    mailer = inst.mailer()  # a bad SMTP setting fails here, before anything is rendered
    with inst.db.exclusive("report"):
        done = inst.db.outbox.sent_message_ids([*(week.message_id(team.key) for _, team in chosen),
                                                week.message_id(None)])
        letters = _letters(week, chosen, steward, open_quarantine, done, result, outbox)
        if letters:
            _send(inst, week, letters, mailer, result)
    log.info("weekly report %s: %d sent, %d already sent, %d failed, %d teams waiting for configuration",
             result.week, len(result.sent), len(result.already_sent), len(result.failed), len(result.waiting))
    if result.outage is not None:  # the run fails (the task retries); the reports not sent go with the rerun
        raise DeliveryError(True, result.outage)
    return result


def steward_digest(inst: Installation, as_of: date, run_id: str, *, dry_run: bool = False) -> SendResult:
    """Put the quarantined records not yet reported into the data steward's digest, and send the outbox.

    A dry run sends nothing and marks nothing reported."""
    if dry_run:
        return SendResult()
    build_digests(inst.db, inst.settings, inst.book, as_of, run_id, {}, teams=frozenset(), steward_only=True)
    return send_pending(inst.db, inst.mailer(), inst.settings.max_attempts)
