"""The pages as data: each builder answers one page's questions through netflow's adapters and
returns the Pydantic model that the JSON endpoint returns and the template renders.

    site = Site(engine, config, book)
    worklist = build_worklist(site, "gi-onc-east", date(2026, 12, 1), WorklistFilters())
    patient = build_patient(site, "MRN0000001", date(2026, 12, 1))     # None: no such patient

Read-only: nothing here writes to the patient database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from urllib.parse import quote

from netflow.config import Settings
from netflow.domain.dates import age_on
from netflow.domain.digest import SECTIONS, clean_text, display_name
from netflow.domain.evaluation import WINDOW_STATUSES, Evaluation
from netflow.domain.events import SEVERITY
from netflow.domain.explain import SITE_NAMES
from netflow.domain.metrics import ISSUE_WORDS, WORKLIST_BARS, TeamMetrics
from netflow.domain.record import PatientRecord
from netflow.domain.rules import CROSS_SECTIONAL, RuleBook
from netflow.installation import Installation
from netflow.services import outbox
from netflow.services import worklist as queries
from netflow_airflow.worklist.models import (
    Bar,
    DataIssue,
    EvaluationModel,
    EventModel,
    Fact,
    FieldErrorModel,
    Overview,
    PatientDetail,
    QuarantineList,
    QuarantineModel,
    RunModel,
    ScanModel,
    Team,
    TeamOverview,
    WindowModel,
    Worklist,
    WorklistFilters,
)
from netflow_airflow.worklist.rows import build_sections, digest_rows, in_sections, matches, sort_rows

__all__ = ["DAILY_DAG", "Site", "UnknownTeam", "build_overview", "build_patient", "build_quarantine",
           "build_worklist", "team_list"]

DAILY_DAG = "net_surveillance_daily"
RESECTION_WORDS = {"local_excision": "local excision (no lymphadenectomy)",
                   "formal_resection": "formal resection with lymphadenectomy"}
GASTRIC_TYPE_WORDS = {1: "type 1 (atrophic gastritis)", 2: "type 2 (gastrinoma)", 3: "type 3 (sporadic)"}
KIND_WORDS = {**dict(SECTIONS), "closed": "Window met by a scan"}
FLAG_KINDS = ("high_risk", "needs_review", "not_indicated")
_Key = TypeVar("_Key", str, int)


class UnknownTeam(LookupError):
    """The requested care team is not configured and no patient names it."""


@dataclass(frozen=True)
class Site:
    """What every page reads from: the installation (patient database, settings, rule book)."""

    inst: Installation

    @property
    def config(self) -> Settings:
        return self.inst.settings

    @property
    def book(self) -> RuleBook:
        return self.inst.book


def team_list(site: Site) -> list[Team]:
    return [Team(key=key, name=name) for key, name in queries.team_names(site.inst).items()]


# The worklist -----------------------------------------------------------------------------------

def build_worklist(site: Site, team_key: str, as_of: date, filters: WorklistFilters) -> Worklist:
    """A care team's patients on `as_of`, in the digest's sections, filtered and sorted."""
    teams = team_list(site)
    team = next((t for t in teams if t.key == team_key), None)
    if team is None:
        raise UnknownTeam("no such care team")
    found = queries.team_patients(site.inst, team_key, as_of)
    evaluations, names = found.evaluations, found.names
    query = (filters.q or "").casefold()
    wanted = [ev for ev in evaluations if in_sections(ev) or (query and query in str(ev.patient_id).casefold())]
    rows = digest_rows(wanted, names, book=site.book, phi_level=site.config.phi_level,
                       worklist_url=site.config.worklist_url)
    by_id = {str(ev.patient_id): ev for ev in wanted}
    listed = [row for row in rows if in_sections(by_id[row.patient_id])]
    others = [row for row in rows if not in_sections(by_id[row.patient_id]) and matches(row, filters)]
    return Worklist(
        team=team, teams=teams, as_of=as_of, phi_level=site.config.phi_level, filters=filters,
        under_surveillance=sum(ev.status in WINDOW_STATUSES for ev in evaluations),
        sections=build_sections(listed, by_id, filters),
        other_matches=sort_rows(others, filters.sort, filters.order) if query else [],
    )


# One patient ------------------------------------------------------------------------------------

def build_patient(site: Site, patient_id: str, as_of: date) -> PatientDetail | None:
    """The patient's evaluation on `as_of` and its history, or None for an unknown patient."""
    found = queries.patient(site.inst, patient_id, as_of)
    if found is None:
        return None
    record, evaluation, history, team_name = found.record, found.evaluation, found.history, found.team_name
    summary = digest_rows([evaluation], {record.patient_id: record.name}, book=site.book,
                          phi_level=site.config.phi_level, worklist_url=site.config.worklist_url)[0]
    return PatientDetail(
        patient_id=record.patient_id, mrn=summary.mrn, name=display_name(record.name, site.config.phi_level),
        team=Team(key=record.care_team, name=team_name), as_of=as_of, phi_level=site.config.phi_level,
        summary=summary, evaluation=EvaluationModel.model_validate(evaluation.to_dict()),
        facts=_facts(record, evaluation, site.book), scans=_scans(record, evaluation, _qualifying(site, evaluation)),
        windows=_windows(history, evaluation), flags=[_event(e) for e in history if e.kind in FLAG_KINDS],
        data_issues=[DataIssue(code=code, text=ISSUE_WORDS.get(code, code.replace("_", " ")))
                     for code in evaluation.data_issues],
        quarantine=[_quarantined(row) for row in found.quarantine],
    )


def _or_unknown(value: object, unit: str = "") -> str:
    return "not recorded" if value is None else f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"


def _nodes(record: PatientRecord) -> str:
    """Nodes as the pathology report gave them; none examined (0) is "not assessed" (spec section 3)."""
    if record.nodes_examined == 0:
        return "not assessed (no node examined)"
    if record.nodes_positive is None:
        return "not recorded"
    examined = f" of {record.nodes_examined} examined" if record.nodes_examined is not None else ""
    return f"{record.nodes_positive} positive{examined}"


def _yes_no(value: bool | None, unknown: str) -> str:
    return unknown if value is None else "yes" if value else "no"


def _in_words(words: Mapping[_Key, str], value: _Key | None) -> str:
    return "not recorded" if value is None else words.get(value, str(value))


def _facts(record: PatientRecord, evaluation: Evaluation, book: RuleBook) -> list[Fact]:
    """The record's clinical facts in words, in the order of a pathology report; the gastric type only for a
    gastric NET (the only site that has one), the hereditary syndrome only when there is one."""
    guideline = evaluation.guideline
    facts = [Fact(label="Primary tumour", value=SITE_NAMES.get(record.primary_site, record.primary_site))]
    if record.primary_site == "stomach":
        facts.append(Fact(label="Gastric type", value=_in_words(GASTRIC_TYPE_WORDS, record.gastric_type)))
    facts += [
        Fact(label="Differentiation", value="poorly differentiated (NEC)" if record.differentiation == "poor"
             else "well differentiated"),
        Fact(label="WHO grade", value="not recorded" if record.grade is None else f"G{record.grade}"),
        Fact(label="Ki-67", value=_or_unknown(record.ki67_percent, "%")),
        Fact(label="Tumour size", value=_or_unknown(record.tumor_size_mm, " mm")),
        Fact(label="Nodes", value=_nodes(record)),
        Fact(label="Lymphovascular invasion", value=_yes_no(record.lymphovascular_invasion, "not reported")),
        Fact(label="Margin", value=record.margin or "not recorded"),
    ]
    if record.hereditary_syndrome:
        facts.append(Fact(label="Hereditary syndrome", value=record.hereditary_syndrome))
    facts += [
        Fact(label="Resection", value=_in_words(RESECTION_WORDS, record.resection_type)),
        Fact(label="Resection date", value=record.resection_date.isoformat()),
        Fact(label="Age on the as-of date", value=str(age_on(record.birth_date, evaluation.as_of))),
        Fact(label="Record status", value=record.status.replace("_", " ")
             + (f" since {record.status_date.isoformat()}" if record.status_date else "")),
    ]
    if guideline in book.ids:
        facts.append(Fact(label="Guideline", value=f"{book[guideline].short_name}: {book[guideline].version}"))
    if evaluation.interval_months:
        low, high = evaluation.interval_months
        facts.append(Fact(label="Interval", value=f"{low} months" if low == high else f"{low}–{high} months"))
    return facts


def _qualifying(site: Site, evaluation: Evaluation) -> frozenset[str]:
    """The modalities that count as a scan under the evaluation's rule (spec section 2); CT and MRI where no
    rule applies (inactive, needs review, invalid: no rule_id)."""
    guideline, rule_id = evaluation.guideline, evaluation.rule_id
    if guideline is None or rule_id is None or guideline not in site.book.ids:
        return CROSS_SECTIONAL
    return site.book[guideline].rule_by_id(rule_id).qualifying


def _scans(record: PatientRecord, evaluation: Evaluation, qualifying: frozenset[str]) -> list[ScanModel]:
    """Every imaging study, newest first, each saying whether it counts: after the resection, on or before
    the as-of date, and of a modality in `qualifying` (the rule's)."""
    found = []
    for scan in sorted(record.imaging, key=lambda s: s.date, reverse=True):
        if scan.date <= record.resection_date:
            note = "on or before the resection: does not count"
        elif scan.date > evaluation.as_of:
            note = "after the as-of date: not seen on this date"
        elif scan.modality not in qualifying:
            note = "not a modality that counts under this rule"
        else:
            note = "counts"
        counts = note == "counts"
        latest = counts and scan.date == evaluation.last_scan
        found.append(ScanModel(date=scan.date, modality=scan.modality, counts=counts, latest=latest,
                               note="the latest scan that counts: the window counts from it" if latest else note))
    return found


def _event(entry: queries.EventEntry) -> EventModel:
    payload = entry.payload
    if entry.kind == "closed":
        detail = f"met by the scan of {payload.get('closed_by_scan')}"
    else:
        detail = clean_text(payload.get("explanation"))
    return EventModel(id=entry.id, kind=entry.kind, kind_text=KIND_WORDS.get(entry.kind, entry.kind),
                      as_of=entry.as_of, created_at=entry.created_at, run_id=entry.run_id,
                      outbox_id=entry.outbox_id, digest_status=entry.outbox_status, sent_at=entry.sent_at,
                      detail=detail)


def _windows(history: Iterable[queries.EventEntry], evaluation: Evaluation) -> list[WindowModel]:
    """One entry per window that had events (and the evaluation's own window), newest first."""
    windows: dict[date, WindowModel] = {}
    for entry in history:
        if entry.window_open is None or (entry.kind not in SEVERITY and entry.kind != "closed"):
            continue
        window = windows.setdefault(entry.window_open, WindowModel(
            window_open=entry.window_open, window_close=None, events=[], closed_on=None, closed_by_scan=None,
            current=entry.window_open == evaluation.window_open))
        close = entry.payload.get("window_close")
        if close:
            window.window_close = date.fromisoformat(str(close))
        if entry.kind == "closed":
            window.closed_on = entry.as_of
            scan = entry.payload.get("closed_by_scan")
            window.closed_by_scan = date.fromisoformat(str(scan)) if scan else None
        else:
            window.events.append(_event(entry))
    if evaluation.window_open is not None and evaluation.window_open not in windows:
        windows[evaluation.window_open] = WindowModel(
            window_open=evaluation.window_open, window_close=evaluation.window_close, events=[], closed_on=None,
            closed_by_scan=None, current=True)
    return [windows[key] for key in sorted(windows, reverse=True)]


def _quarantined(row: queries.QuarantineRow) -> QuarantineModel:
    return QuarantineModel(id=row.id, source=clean_text(row.source), line_no=row.line_no,
                           record_key=None if row.record_key is None else clean_text(row.record_key),
                           errors=[FieldErrorModel(field=clean_text(e.field), message=clean_text(e.message))
                                   for e in row.errors],
                           created_at=row.created_at)


# Overview and quarantine ------------------------------------------------------------------------

def _team_overview(team: Team, m: TeamMetrics, colours: Mapping[str, str]) -> TeamOverview:
    return TeamOverview(
        team=team, patients=m.patients, under_surveillance=m.under_surveillance,
        worklist={key: m.count(key) for key, _ in WORKLIST_BARS},
        bars=[Bar(key=key, label=label, count=m.count(key), colour=colours.get(key, "#667085"))
              for key, label in WORKLIST_BARS],
        median_days_overdue=m.median_days_overdue, closed=m.closed, closed_on_time=m.closed_on_time,
        on_time_rate=m.on_time_rate, with_data_issues=m.with_data_issues, data_issues=dict(m.data_issues),
        invalid=m.invalid)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _run(entry: queries.RunEntry, ui_root: str) -> RunModel:
    summary = entry.summary
    events = summary.get("events")
    from_cli = entry.run_id.startswith("cli-")
    return RunModel(
        run_id=entry.run_id, as_of=entry.as_of, started_at=entry.started_at, finished_at=entry.finished_at,
        evaluated=_int(summary.get("evaluated")),
        events={str(k): int(v) for k, v in events.items()} if isinstance(events, dict) else {},
        digests=_int(summary.get("digests")), sent=_int(summary.get("sent")),
        retrying=_int(summary.get("retrying")), failed=_int(summary.get("failed")),
        dry_run=bool(summary.get("dry_run")),
        airflow_url=None if from_cli else f"{ui_root}/dags/{DAILY_DAG}/runs/{quote(entry.run_id, safe='')}",
    )


def build_overview(site: Site, as_of: date, ui_root: str = "", colours: Mapping[str, str] | None = None
                   ) -> Overview:
    """Every care team's surveillance metrics on `as_of`, the latest daily runs, and the outbox's pending and
    failed messages (now, whatever `as_of`).

    `ui_root` is where the Airflow UI lives (for the links to runs); `colours` the bar colour by bucket."""
    found = queries.overview(site.inst, as_of)
    teams = [_team_overview(team, found.metrics.get(team.key) or TeamMetrics(team.key, as_of), colours or {})
             for team in team_list(site)]
    runs = [_run(entry, ui_root) for entry in found.runs]
    messages = outbox.counts(site.inst)
    return Overview(as_of=as_of, teams=teams, runs=runs, open_quarantine=found.open_quarantine,
                    pending_messages=messages["pending"], failed_messages=messages["failed"])


def build_quarantine(site: Site) -> QuarantineList:
    return QuarantineList(rows=[_quarantined(row) for row in queries.quarantine(site.inst)])
