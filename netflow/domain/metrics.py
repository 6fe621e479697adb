"""The weekly surveillance report as data: per-team counts, and the words and chart the email shows.

    metrics = measure(evaluations, closures, as_of=date(2026, 12, 7))     # one pass, by care team
    metrics["gi-onc-east"].overdue, metrics["gi-onc-east"].on_time_rate
    report = team_report(metrics["gi-onc-east"], team_name="GI Oncology East", run_id="run-1",
                         worklist_url="https://netflow.example.org/worklist", grace_days={30})
    report.subject   # 'NET surveillance weekly report - GI Oncology East (2026-12-07)'

Aggregates only: nothing here holds a patient identifier, so a report, its subject and its chart
can never carry one. `measure` reads the evaluations once and keeps per team a few counters and
the days overdue of the overdue patients (for the median). Every word the templates print is
decided here, as for the digests (netflow.domain.digest).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median
from typing import Any

from netflow.domain.digest import check_worklist_url, clean_text
from netflow.domain.evaluation import Evaluation

__all__ = [
    "CLOSURE_DAYS", "ISSUE_WORDS", "WORKLIST_BARS", "Bar", "ChartData", "Closure", "Report", "ReportLine",
    "ReportSection", "StewardMetrics", "TeamMetrics", "closure_period", "iso_week", "measure",
    "steward_metrics", "steward_report", "team_report", "worklist_bucket",
]

CLOSURE_DAYS = 90  # windows closed by a scan in the last 90 days, the as-of date included
FOLLOWED = frozenset(("not_due", "due_soon", "due", "overdue", "needs_review", "not_indicated"))
# (bucket, words) in chart and email order: the open worklist, then the patients without a window.
WORKLIST_BARS = (
    ("not_due", "Not due yet"), ("due_soon", "Due in the next 30 days"), ("due_now", "Due now"),
    ("overdue", "Overdue"), ("escalated", "Escalated (90+ days)"),
    ("needs_review", "Needs clinician review"), ("not_indicated", "No surveillance planned"),
)
ISSUE_WORDS = {
    "ki67_missing": "Ki-67 not recorded",
    "grade_missing": "Grade not recorded",
    "nodes_missing": "Nodal status not recorded",
    "nodes_not_assessed": "No node examined (local excision)",
    "size_missing": "Tumour size not recorded",
    "margin_missing": "Resection margin not recorded",
    "gastric_type_missing": "Gastric NET type not recorded",
    "imaging_ignored_modality": "Imaging that does not count under the patient's rule",
}
AGGREGATE_NOTICE = "Counts only: this report holds no patient names, MRNs or dates of birth."


def iso_week(as_of: date) -> str:
    """'2026W50': the ISO year and week of `as_of`, which keys a report (one per team and week)."""
    year, week, _ = as_of.isocalendar()
    return f"{year}W{week:02d}"


def closure_period(as_of: date) -> tuple[date, date]:
    """The first and last day (both included) of the CLOSURE_DAYS ending on `as_of`."""
    return as_of - timedelta(days=CLOSURE_DAYS - 1), as_of


def worklist_bucket(evaluation: Evaluation) -> str | None:
    """The WORKLIST_BARS bucket of an evaluation, or None (inactive, completed, invalid)."""
    status = evaluation.status
    if status == "overdue":
        return "escalated" if evaluation.escalation_level >= 2 else "overdue"
    if status == "due":
        return "due_now"
    return status if status in FOLLOWED else None


@dataclass(frozen=True, slots=True)
class Closure:
    """A surveillance window met by a scan (a `closed` event), with its rule set's grace period."""

    care_team: str
    window_close: date | None
    closed_by_scan: date
    grace_days: int

    @property
    def on_time(self) -> bool:
        """Scanned no later than `grace_days` after the window closed (before it became overdue)."""
        return self.window_close is not None and (
            self.closed_by_scan <= self.window_close + timedelta(days=self.grace_days))


@dataclass(frozen=True)
class TeamMetrics:
    """One care team's worklist on `as_of`, its closures in the period, and its data quality."""

    team_key: str
    as_of: date
    patients: int = 0  # every stored patient of the team, whatever the status
    worklist: Mapping[str, int] = field(default_factory=dict)  # WORKLIST_BARS bucket -> patients
    median_days_overdue: float | None = None  # among overdue and escalated patients
    closed: int = 0
    closed_on_time: int = 0
    with_data_issues: int = 0  # followed patients (any FOLLOWED status) with at least one issue
    data_issues: Mapping[str, int] = field(default_factory=dict)  # issue code -> patients
    invalid: int = 0  # records that fail validation under the current rule sets

    def count(self, bucket: str) -> int:
        return self.worklist.get(bucket, 0)

    @property
    def under_surveillance(self) -> int:
        return sum(self.count(b) for b in ("not_due", "due_soon", "due_now", "overdue", "escalated"))

    @property
    def due(self) -> int:
        """Due now or in the next 30 days."""
        return self.count("due_soon") + self.count("due_now")

    @property
    def overdue(self) -> int:
        """Overdue, not yet escalated (escalation level 1)."""
        return self.count("overdue")

    @property
    def escalated(self) -> int:
        return self.count("escalated")

    @property
    def needs_review(self) -> int:
        return self.count("needs_review")

    @property
    def not_indicated(self) -> int:
        return self.count("not_indicated")

    @property
    def on_time_rate(self) -> float | None:
        return self.closed_on_time / self.closed if self.closed else None

    def as_counts(self) -> dict[str, Any]:
        """Numbers only, for logs, XCom and the worklist page."""
        return {
            "patients": self.patients, "under_surveillance": self.under_surveillance, "due": self.due,
            **{bucket: self.count(bucket) for bucket, _ in WORKLIST_BARS},
            "median_days_overdue": self.median_days_overdue, "closed": self.closed,
            "closed_on_time": self.closed_on_time, "with_data_issues": self.with_data_issues,
            "data_issues": dict(sorted(self.data_issues.items())), "invalid": self.invalid,
        }


@dataclass
class _Tally:
    patients: int = 0
    worklist: Counter[str] = field(default_factory=Counter)
    days_overdue: list[int] = field(default_factory=list)
    issues: Counter[str] = field(default_factory=Counter)
    with_issues: int = 0
    invalid: int = 0
    closed: int = 0
    on_time: int = 0

    def add(self, evaluation: Evaluation) -> None:
        self.patients += 1
        bucket = worklist_bucket(evaluation)
        if bucket is not None:
            self.worklist[bucket] += 1
        if evaluation.status == "overdue":
            self.days_overdue.append(evaluation.days_overdue)
        elif evaluation.status == "invalid":
            self.invalid += 1
        if evaluation.status in FOLLOWED and evaluation.data_issues:
            self.with_issues += 1
            self.issues.update(set(evaluation.data_issues))

    def freeze(self, team_key: str, as_of: date) -> TeamMetrics:
        return TeamMetrics(
            team_key=team_key, as_of=as_of, patients=self.patients, worklist=dict(self.worklist),
            median_days_overdue=float(median(self.days_overdue)) if self.days_overdue else None,
            closed=self.closed, closed_on_time=self.on_time, with_data_issues=self.with_issues,
            data_issues=dict(self.issues), invalid=self.invalid)


def measure(evaluations: Iterable[Evaluation], closures: Iterable[Closure], as_of: date
            ) -> dict[str, TeamMetrics]:
    """Every team's metrics from one pass over the evaluations on `as_of` and the closures.

    Closures count when their scan falls in `closure_period(as_of)`; a team appears when it has
    a patient or a closure. Evaluations without a care team count under the key "".
    """
    tallies: dict[str, _Tally] = {}
    for evaluation in evaluations:
        tallies.setdefault(evaluation.care_team or "", _Tally()).add(evaluation)
    first, last = closure_period(as_of)
    for closure in closures:
        if first <= closure.closed_by_scan <= last:
            tally = tallies.setdefault(closure.care_team, _Tally())
            tally.closed += 1
            tally.on_time += closure.on_time
    return {key: tally.freeze(key, as_of) for key, tally in sorted(tallies.items())}


@dataclass(frozen=True)
class StewardMetrics:
    """The installation's data quality: open quarantine rows are not per team, so they live here."""

    as_of: date
    open_quarantine: int
    with_data_issues: int
    data_issues: Mapping[str, int]
    invalid: int
    unconfigured_teams: tuple[str, ...]  # team keys with patients but no usable configuration
    pending_digests: int = 0  # outbox messages still waiting to be sent (e.g. while the mail server is down)
    failed_digests: int = 0  # outbox messages refused NETFLOW_MAX_ATTEMPTS times: sent again only when requeued

    @property
    def anything(self) -> bool:
        return bool(self.open_quarantine or self.with_data_issues or self.invalid or self.unconfigured_teams
                    or self.pending_digests or self.failed_digests)


def steward_metrics(metrics: Mapping[str, TeamMetrics], as_of: date, open_quarantine: int,
                    unconfigured_teams: Iterable[str] = (), *, pending_digests: int = 0,
                    failed_digests: int = 0) -> StewardMetrics:
    """The installation's data quality from every team's metrics, and the outbox's undelivered digests."""
    issues: Counter[str] = Counter()
    for team in metrics.values():
        issues.update(team.data_issues)
    return StewardMetrics(as_of, open_quarantine, sum(t.with_data_issues for t in metrics.values()),
                          dict(issues), sum(t.invalid for t in metrics.values()),
                          tuple(sorted(unconfigured_teams)), pending_digests, failed_digests)


# The email and chart --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReportLine:
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReportSection:
    title: str
    lines: tuple[ReportLine, ...]


@dataclass(frozen=True, slots=True)
class Bar:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class ChartData:
    """What the chart shows: the worklist bars and the on-time share of the period's closures."""

    title: str
    bars: tuple[Bar, ...]
    closed: int
    on_time: int
    closure_label: str
    alt: str


@dataclass(frozen=True)
class Report:
    """One weekly report email; `digest`-like fields (subject, as_of, run_id) feed the shared layout."""

    kind: str  # team_report or steward_report
    team_key: str | None
    heading: str
    as_of: date
    week: str
    run_id: str
    subject: str
    summary: str
    sections: tuple[ReportSection, ...]
    recipients_note: str
    worklist_url: str
    chart: ChartData | None = None
    notice: str = AGGREGATE_NOTICE


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _issue_lines(with_issues: int, issues: Mapping[str, int], invalid: int) -> tuple[ReportLine, ...]:
    known = [code for code in ISSUE_WORDS if issues.get(code)]
    other = sorted(code for code in issues if code not in ISSUE_WORDS and issues[code])
    return (
        ReportLine("Patients with a data issue", str(with_issues), "among patients still followed"),
        *(ReportLine(ISSUE_WORDS.get(code, clean_text(code.replace("_", " "))), str(issues[code]))
          for code in (*known, *other)),
        ReportLine("Records that need correcting", str(invalid), "not evaluated until corrected"),
    )


def _grace_note(grace_days: Iterable[int]) -> str:
    days = sorted(set(grace_days))
    within = f"{days[0]} days" if len(days) == 1 else "the guideline's grace period"
    return f"scanned no later than {within} after the window closed"


def _chart(m: TeamMetrics, name: str, period: str) -> ChartData:
    bars = tuple(Bar(key, words, m.count(key)) for key, words in WORKLIST_BARS)
    worklist = ", ".join(f"{b.count} {b.label.lower()}" for b in bars)
    closures = (f"{m.closed_on_time} of {m.closed} windows closed on time" if m.closed
                else "no windows closed")
    return ChartData(title=f"{name}: worklist on {m.as_of.isoformat()}", bars=bars, closed=m.closed,
                     on_time=m.closed_on_time, closure_label=f"Closed on time, {period}",
                     alt=f"Worklist of {name}: {worklist}. {closures.capitalize()} in the {period}.")


def team_report(m: TeamMetrics, *, team_name: str, run_id: str, worklist_url: str, grace_days: Iterable[int],
                leads: int = 1) -> Report:
    """The weekly report of one team, sent to its `leads` program leads (none: to its navigators)."""
    name = clean_text(team_name) or clean_text(m.team_key)
    first, last = closure_period(m.as_of)
    period = f"last {CLOSURE_DAYS} days"
    median_text = "—" if m.median_days_overdue is None else f"{m.median_days_overdue:g}"
    rate = "—" if m.on_time_rate is None else f"{round(100 * m.on_time_rate)}%"
    worklist = ReportSection("Worklist", (
        ReportLine("Under surveillance", str(m.under_surveillance), "patients with a surveillance window"),
        ReportLine("Not due yet", str(m.count("not_due"))),
        ReportLine("Due", str(m.due), f"{m.count('due_now')} now, {m.count('due_soon')} in the next 30 days"),
        ReportLine("Overdue", str(m.overdue), "less than 90 days"),
        ReportLine("Escalated", str(m.escalated), "overdue 90 days or more"),
        ReportLine("Median days overdue", median_text, "overdue and escalated patients"),
    ))
    closures = ReportSection(f"Windows closed, {period} ({first.isoformat()} – {last.isoformat()})", (
        ReportLine("Closed by a scan", str(m.closed)),
        ReportLine("Closed on time", str(m.closed_on_time), _grace_note(grace_days)),
        ReportLine("On-time rate", rate),
    ))
    others = ReportSection("Patients without a window", (
        ReportLine("Needs clinician review", str(m.needs_review)),
        ReportLine("No surveillance planned (to confirm)", str(m.not_indicated)),
    ))
    quality = ReportSection("Data quality", _issue_lines(m.with_data_issues, m.data_issues, m.invalid))
    who = ("nurse navigators (the team has no program lead configured)" if leads < 1
           else "program lead" if leads == 1 else "program leads")
    return Report(
        kind="team_report", team_key=m.team_key, heading=name, as_of=m.as_of, week=iso_week(m.as_of),
        run_id=clean_text(run_id), subject=f"NET surveillance weekly report - {name} ({m.as_of.isoformat()})",
        summary=(f"{_n(m.under_surveillance, 'patient', 'patients')} under surveillance · {m.due} due · "
                 f"{m.overdue} overdue · {m.escalated} escalated"),
        sections=(worklist, closures, others, quality),
        recipients_note=(f"Sent each week to the {who} of {name}: the team's surveillance worklist in numbers. "
                         "The daily digests name the patients."),
        worklist_url=check_worklist_url(worklist_url), chart=_chart(m, name, period))


def _delivery_section(s: StewardMetrics) -> tuple[ReportSection, ...]:
    """The digests not delivered, when there are any (none: no section)."""
    if not (s.pending_digests or s.failed_digests):
        return ()
    return (ReportSection("Digests not delivered", (
        ReportLine("Waiting to be sent", str(s.pending_digests),
                   "still in the outbox; each run sends them once the mail server takes them"),
        ReportLine("Failed", str(s.failed_digests),
                   "refused by the mail server too often; not sent again until requeued with "
                   "'netflow outbox retry --failed'"),
    )),)


def steward_report(s: StewardMetrics, *, run_id: str, worklist_url: str) -> Report:
    """The data steward's weekly report: quarantine and data issues across every team."""
    lines = [ReportLine("Open quarantined records", str(s.open_quarantine), "failed validation on import"),
             *_issue_lines(s.with_data_issues, s.data_issues, s.invalid)]
    if s.unconfigured_teams:
        lines.append(ReportLine("Teams without a usable configuration", ", ".join(s.unconfigured_teams),
                                "their patients get no email; load them with 'netflow teams load'"))
    delivery = _delivery_section(s)
    return Report(
        kind="steward_report", team_key=None, heading="Data quality", as_of=s.as_of, week=iso_week(s.as_of),
        run_id=clean_text(run_id),
        subject=f"NET surveillance weekly report - data quality ({s.as_of.isoformat()})",
        summary=(f"{_n(s.open_quarantine, 'quarantined record', 'quarantined records')} · "
                 f"{_n(s.with_data_issues, 'patient', 'patients')} with a data issue"
                 + (f" · {_n(s.pending_digests + s.failed_digests, 'digest', 'digests')} not delivered"
                    if delivery else "")),
        sections=(ReportSection("Data quality, all care teams", tuple(lines)), *delivery),
        recipients_note="Sent each week to the data steward of this netflow installation.",
        worklist_url=check_worklist_url(worklist_url))

