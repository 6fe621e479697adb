"""The weekly surveillance report: per-team numbers and a chart, emailed to each team's leads.

    result = weekly_report(engine, config, book, date(2026, 12, 7), run_id="weekly-2026W50")
    result.as_counts()          # counts and team keys only: safe for logs and XCom
    team_metrics(engine, book, date(2026, 12, 7))["gi-onc-east"].overdue   # for the worklist page

What is measured (netflow.domain.metrics): one streaming pass over `iter_evaluations` and one
query over the `closed` events of the last 90 days; no per-patient query, no patient data out.

Who gets it: a care team's program leads (To, no Cc); a team without a lead, its navigators.
With NETFLOW_DATA_STEWARD set and no team filter, the steward gets the installation's data
quality (open quarantine rows, data issues of every team, teams without configuration).

The message: multipart/alternative, plain text and HTML with the same numbers; the HTML part
is multipart/related with the chart as an inline PNG (Content-ID, Content-Disposition: inline)
shown by `<img src="cid:...">`, which Gmail, Outlook, Apple Mail and Thunderbird all render in
the body (most also list it as a downloadable image). A text-only reader has every number.

Delivery and idempotency: unlike a digest, a report is *not* left in the outbox for
`netflow.reminders.delivery.send_pending`. The outbox row has no column for the PNG (and the
schema stays as it is), so that sender would send the report without its chart. Instead this
module sends its own messages over one SMTP connection (the same `Mailer` port), under an
exclusive "report" lock, and records each accepted report in the outbox at once, status
`sent`, kind `team_report` or `steward_report`. The Message-ID is derived from the team and
the ISO week (`<report-gi-onc-east.2026W50@hospital.example>`), so a team whose report for
that week is already in the outbox is skipped: running twice in a week sends nothing the
second time, and a crash between the server's acceptance and the record resends one message
with the same Message-ID (mail systems drop the duplicate). A refused report leaves no row:
it is counted as failed (the task fails loudly) and the next run of the week sends it.
Dry run: everything is rendered (for every selected team, sent or not), written as .eml files
if asked, and nothing is sent or recorded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from netflow.adapters import charts, ledger
from netflow.adapters.locks import exclusive
from netflow.adapters.mail import DeliveryError, Mailer, SmtpMailer, build_message, smtp_settings, write_eml
from netflow.adapters.rendering import render_template
from netflow.adapters.tables import care_teams, events, outbox, patients, quarantine
from netflow.config import Settings
from netflow.domain.metrics import (
    Closure,
    Report,
    TeamMetrics,
    closure_period,
    iso_week,
    measure,
    steward_metrics,
    steward_report,
    team_report,
)
from netflow.domain.rules import RuleBook
from netflow.reminders.digests import message_domain
from netflow.scanning import iter_evaluations
from netflow.teams import CareTeam

__all__ = ["STEWARD", "ReportLetter", "ReportResult", "report_message_id", "report_recipients", "team_metrics",
           "weekly_report"]

log = logging.getLogger(__name__)

STEWARD = "data steward"  # how results name the steward's report (never a team key: it has a space)
_TOKEN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


# Queries (one per question; aggregates and keys only) --------------------------------------------

def _closures(conn: Connection, book: RuleBook, as_of: date) -> list[Closure]:
    """The `closed` events recorded by as_of whose scan may fall in the period, with their grace days.

    A closing scan is never after its event's as-of date, so filtering on the event date loses none."""
    first, last = closure_period(as_of)
    query = (
        select(events.c.care_team, events.c.payload, patients.c.guideline, care_teams.c.guideline)
        .select_from(events.outerjoin(patients, patients.c.patient_id == events.c.patient_id)
                     .outerjoin(care_teams, care_teams.c.key == events.c.care_team))
        .where(events.c.kind == "closed", events.c.as_of >= first, events.c.as_of <= last)
    )
    found = []
    for team, payload, own, teams in conn.execute(query):
        data = json.loads(payload)
        guideline = next((g for g in (own, teams) if g in book.ids), book.default)
        close = data.get("window_close")
        found.append(Closure(team, date.fromisoformat(close) if close else None,
                             date.fromisoformat(data["closed_by_scan"]), book[guideline].grace_days))
    return found


def _open_quarantine(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(quarantine)
                            .where(quarantine.c.resolved_at.is_(None))).scalar_one())


def _in_outbox(conn: Connection, message_ids: Iterable[str]) -> set[str]:
    ids = list(message_ids)
    return {m for (m,) in conn.execute(select(outbox.c.message_id).where(outbox.c.message_id.in_(ids)))}


# Metrics ----------------------------------------------------------------------------------------

def team_metrics(engine: Engine, book: RuleBook, as_of: date) -> dict[str, TeamMetrics]:
    """Every care team's worklist, closures and data quality on `as_of`, by team key."""
    with engine.connect() as conn:
        closures = _closures(conn, book, as_of)
    return measure(iter_evaluations(engine, as_of, book), closures, as_of)


# Letters ----------------------------------------------------------------------------------------

def _token(key: str) -> str:
    """`key` as it may stand in a Message-ID or file name (a digest of it if it cannot)."""
    return key if _TOKEN.fullmatch(key) else "t" + hashlib.sha256(key.encode()).hexdigest()[:16]


def report_message_id(team_key: str | None, as_of: date, domain: str) -> str:
    """<report-gi-onc-east.2026W50@domain>, or <steward-report.2026W50@domain> for the steward."""
    stem = "steward-report" if team_key is None else f"report-{_token(team_key)}"
    return f"<{stem}.{iso_week(as_of)}@{domain}>"


@dataclass(frozen=True)
class ReportLetter:
    """A rendered report with its envelope and chart, ready to send or write as .eml."""

    kind: str
    team_key: str | None
    message_id: str
    subject: str
    to: tuple[str, ...]
    body_text: str
    body_html: str
    chart_png: bytes | None = None
    chart_cid: str | None = None  # without angle brackets, as the HTML's cid: URL names it

    @property
    def key(self) -> str:
        return self.team_key if self.team_key is not None else STEWARD

    def message(self, sender: str) -> EmailMessage:
        """The email: text and HTML alternatives, the HTML related to its inline chart."""
        msg = build_message(sender=sender, to=self.to, subject=self.subject, text=self.body_text,
                            html=self.body_html, message_id=self.message_id)
        html = msg.get_body(("html",))
        if self.chart_png is not None and html is not None:
            name = f"netflow-weekly-{_token(self.key.replace(' ', '-'))}.png"
            html.add_related(self.chart_png, maintype="image", subtype="png", cid=f"<{self.chart_cid}>",
                             disposition="inline", filename=name)
            for part in msg.walk():
                if part is not msg:
                    del part["MIME-Version"]
        return msg


def report_recipients(team: CareTeam) -> tuple[str, ...]:
    """To the team's program leads; a team without a lead, to its navigators. Nobody is copied."""
    return tuple(dict.fromkeys(team.leads or team.navigators))


def _render(report: Report, chart_cid: str | None) -> tuple[str, str]:
    context = {"report": report, "digest": report, "chart_cid": chart_cid}  # the layout reads digest.*
    return render_template("email/report.txt", context), render_template("email/report.html", context)


# The use case -----------------------------------------------------------------------------------

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

    @property
    def ok(self) -> bool:
        return not self.failed

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


@dataclass
class _Week:
    """One run of the weekly report: what every letter needs, and the result being filled in."""

    engine: Engine
    config: Settings
    book: RuleBook
    as_of: date
    run_id: str
    result: ReportResult

    @property
    def domain(self) -> str:
        return message_domain(self.config)

    def team_letter(self, m: TeamMetrics, team: CareTeam) -> ReportLetter:
        grace = {rs.grace_days for rs in self.book.rulesets.values()}
        report = team_report(m, team_name=team.name, run_id=self.run_id, worklist_url=self.config.worklist_url,
                             grace_days=grace, leads=len(team.leads))
        assert report.chart is not None
        cid = f"chart.{_token(team.key)}.{report.week}@{self.domain}"
        text, html = _render(report, cid)
        return ReportLetter(report.kind, team.key, report_message_id(team.key, self.as_of, self.domain),
                            report.subject, report_recipients(team), text, html, charts.render(report.chart), cid)

    def steward_letter(self, metrics: Mapping[str, TeamMetrics], open_quarantine: int) -> ReportLetter | None:
        if not self.config.data_steward:
            return None
        numbers = steward_metrics(metrics, self.as_of, open_quarantine, self.result.waiting)
        if not numbers.anything:
            return None
        report = steward_report(numbers, run_id=self.run_id, worklist_url=self.config.worklist_url)
        text, html = _render(report, None)
        return ReportLetter(report.kind, None, report_message_id(None, self.as_of, self.domain), report.subject,
                            (self.config.data_steward,), text, html)

    def letters(self, chosen: list[tuple[TeamMetrics, CareTeam]], steward: Mapping[str, TeamMetrics] | None,
                open_quarantine: int, done: set[str]) -> list[ReportLetter]:
        """Render the reports whose Message-ID is not in `done` (`steward`: every team's metrics, or None)."""
        letters = []
        for m, team in chosen:
            if report_message_id(team.key, self.as_of, self.domain) in done:
                self.result.already_sent.append(team.key)
            else:
                letters.append(self.team_letter(m, team))
        if steward is not None and report_message_id(None, self.as_of, self.domain) in done:
            self.result.already_sent.append(STEWARD)
        elif steward is not None and (letter := self.steward_letter(steward, open_quarantine)) is not None:
            letters.append(letter)
        self.result.built.extend(letter.key for letter in letters)
        return letters

    def record_sent(self, letter: ReportLetter) -> None:
        with self.engine.begin() as conn:
            outbox_id = ledger.create_outbox_message(
                conn, kind=letter.kind, team_key=letter.team_key, run_id=self.run_id, as_of=self.as_of,
                message_id=letter.message_id, subject=letter.subject, sender=self.config.mail_from, to=letter.to,
                cc=(), body_text=letter.body_text, body_html=letter.body_html)
            ledger.mark_sent(conn, outbox_id)
        self.result.sent.append(letter.key)

    def fail(self, letter: ReportLetter, error: str) -> None:
        self.result.failed.append(letter.key)
        self.result.problems.append(f"{letter.key}: {error}")

    def send(self, letters: list[ReportLetter], mailer_factory: Callable[[], Mailer]) -> None:
        """Send over one connection; record each report in the outbox (status sent) once it was accepted."""
        messages = [letter.message(self.config.mail_from) for letter in letters]  # bad envelopes fail first
        finished = 0
        try:
            with mailer_factory() as smtp:
                for letter, message in zip(letters, messages, strict=True):
                    try:
                        smtp.send(message)
                    except DeliveryError as exc:
                        self.fail(letter, exc.text)
                    else:
                        self.record_sent(letter)
                    finished += 1
        except DeliveryError as exc:  # could not connect: every report not yet tried waits for the next run
            for letter in letters[finished:]:
                self.fail(letter, exc.text)


def weekly_report(engine: Engine, config: Settings, book: RuleBook, as_of: date, run_id: str, *,
                  mailer_factory: Callable[[], Mailer] | None = None, dry_run: bool = False,
                  eml_dir: Path | None = None, teams: Iterable[str] | None = None) -> ReportResult:
    """Measure every team on `as_of` and send each selected team its report for the ISO week, once.

    `teams`: only these care teams, and no data steward report. See the module docstring."""
    selected = frozenset(teams) if teams is not None else None
    week = _Week(engine, config, book, as_of, run_id, ReportResult(week=iso_week(as_of), dry_run=dry_run))
    metrics = team_metrics(engine, book, as_of)
    with engine.connect() as conn:
        directory = ledger.care_team_directory(conn)
        open_quarantine = _open_quarantine(conn) if selected is None else 0
    chosen = _select(metrics, directory, selected, as_of, week.result)
    week.result.metrics = {m.team_key: m for m, _ in chosen}
    steward = metrics if selected is None else None
    if dry_run:
        for letter in week.letters(chosen, steward, open_quarantine, done=set()):
            if eml_dir is not None:
                name = f"{as_of.isoformat()}-report-{_token(letter.key.replace(' ', '-'))}"
                week.result.eml_files.append(write_eml(eml_dir, letter.message(config.mail_from), name))
        return week.result
    mailer_factory = mailer_factory or _smtp(config)
    with exclusive(engine, "report"):
        ids = [report_message_id(team.key, as_of, week.domain) for _, team in chosen]
        with engine.connect() as conn:
            done = _in_outbox(conn, [*ids, report_message_id(None, as_of, week.domain)])
        letters = week.letters(chosen, steward, open_quarantine, done)
        if letters:
            week.send(letters, mailer_factory)
    result = week.result
    log.info("weekly report %s: %d sent, %d already sent, %d failed, %d teams waiting for configuration",
             result.week, len(result.sent), len(result.already_sent), len(result.failed), len(result.waiting))
    return result


def _smtp(config: Settings) -> Callable[[], Mailer]:
    settings = smtp_settings(config)
    return lambda: SmtpMailer(settings)
