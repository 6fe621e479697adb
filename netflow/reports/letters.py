"""A weekly report as an email: who gets it, its stable Message-ID, its text and HTML, its inline chart.

    letter = team_letter(metrics, team, week)         # rendered, with its chart
    letter.message(config.mail_from)                  # multipart/alternative; the HTML related to the PNG
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage

from netflow.adapters import charts
from netflow.adapters.mail import build_message
from netflow.adapters.rendering import render_template
from netflow.config import Settings
from netflow.domain.metrics import Report, TeamMetrics, iso_week, steward_metrics, steward_report, team_report
from netflow.domain.rules import RuleBook
from netflow.domain.teams import CareTeam

__all__ = ["STEWARD", "ReportLetter", "Week", "report_message_id", "report_recipients", "token"]

STEWARD = "data steward"  # how results name the steward's report (never a team key: it has a space)
_TOKEN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def token(key: str) -> str:
    """`key` as it may stand in a Message-ID or file name (a digest of it if it cannot)."""
    return key if _TOKEN.fullmatch(key) else "t" + hashlib.sha256(key.encode()).hexdigest()[:16]


def report_message_id(team_key: str | None, as_of: date, domain: str) -> str:
    """<report-gi-onc-east.2026W50@domain>, or <steward-report.2026W50@domain> for the steward."""
    stem = "steward-report" if team_key is None else f"report-{token(team_key)}"
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
            name = f"netflow-weekly-{token(self.key.replace(' ', '-'))}.png"
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


@dataclass(frozen=True)
class Week:
    """What every letter of one week's run needs: the settings, the rule book, the date, the run."""

    config: Settings
    book: RuleBook
    as_of: date
    run_id: str
    domain: str

    def message_id(self, team_key: str | None) -> str:
        return report_message_id(team_key, self.as_of, self.domain)

    def team_letter(self, m: TeamMetrics, team: CareTeam) -> ReportLetter:
        grace = {rs.grace_days for rs in self.book.rulesets.values()}
        report = team_report(m, team_name=team.name, run_id=self.run_id, worklist_url=self.config.worklist_url,
                             grace_days=grace, leads=len(team.leads))
        assert report.chart is not None
        cid = f"chart.{token(team.key)}.{report.week}@{self.domain}"
        text, html = _render(report, cid)
        return ReportLetter(report.kind, team.key, self.message_id(team.key), report.subject,
                            report_recipients(team), text, html, charts.render(report.chart), cid)

    def steward_letter(self, metrics: Mapping[str, TeamMetrics], open_quarantine: int,
                       unconfigured_teams: list[str], outbox: Mapping[str, int] | None = None) -> ReportLetter | None:
        """The data steward's report, or None when there is no steward or nothing to report.

        `outbox`: messages by status (`Outbox.outbox_counts()`); pending and failed ones are reported."""
        if not self.config.data_steward:
            return None
        counts = outbox or {}
        numbers = steward_metrics(metrics, self.as_of, open_quarantine, unconfigured_teams,
                                  pending_digests=counts.get("pending", 0), failed_digests=counts.get("failed", 0))
        if not numbers.anything:
            return None
        report = steward_report(numbers, run_id=self.run_id, worklist_url=self.config.worklist_url)
        text, html = _render(report, None)
        return ReportLetter(report.kind, None, self.message_id(None), report.subject,
                            (self.config.data_steward,), text, html)
