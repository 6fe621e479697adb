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

from netflow.config import Settings
from netflow.domain.dates import age_on
from netflow.domain.digest import DIGEST_SECTIONS, clean_text, display_name
from netflow.domain.evaluation import WINDOW_STATUSES, Evaluation
from netflow.domain.events import SEVERITY
from netflow.domain.explain import SITE_NAMES
from netflow.domain.metrics import ISSUE_WORDS
from netflow.domain.record import PatientRecord
from netflow.domain.rules import CROSS_SECTIONAL, RuleBook
from netflow.installation import Installation
from netflow.services import worklist as queries
from netflow_airflow.worklist.models import (
    DataIssue,
    EvaluationModel,
    EventModel,
    Fact,
    FieldErrorModel,
    FollowUpModel,
    PatientDetail,
    QuarantineModel,
    ScanModel,
    Team,
    TeamWorklist,
    WindowModel,
    Worklist,
    WorklistFilters,
    WorklistRow,
)
from netflow_airflow.worklist.rows import (
    build_sections,
    digest_rows,
    entry_rows,
    follow_up_model,
    in_sections,
    matches,
    sort_rows,
)

__all__ = ["Site", "UnknownTeam", "build_patient", "build_search", "build_team_worklist", "build_worklist",
           "quarantined", "query_of", "team_list"]

RESECTION_WORDS = {"local_excision": "local excision (no lymphadenectomy)",
                   "formal_resection": "formal resection with lymphadenectomy"}
GASTRIC_TYPE_WORDS = {1: "type 1 (atrophic gastritis)", 2: "type 2 (gastrinoma)", 3: "type 3 (sporadic)"}
KIND_WORDS = {**dict(DIGEST_SECTIONS), "closed": "Window met by a scan"}
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

def query_of(filters: WorklistFilters, *, paged: bool = True) -> queries.WorklistQuery:
    return queries.WorklistQuery(
        status=filters.status, risk=filters.risk, follow_up=filters.follow_up,
        overdue_min_days=filters.overdue_min_days, q=filters.q, sort=filters.sort, order=filters.order,
        page=filters.page, page_size=filters.page_size if paged else None)


def _team(site: Site, team_key: str) -> tuple[Team, list[Team]]:
    teams = team_list(site)
    team = next((t for t in teams if t.key == team_key), None)
    if team is None:
        raise UnknownTeam("no such care team")
    return team, teams


def build_team_worklist(site: Site, team_key: str, as_of: date, filters: WorklistFilters, *,
                        paged: bool = True) -> TeamWorklist:
    """One page of the team's whole worklist on `as_of` (every page when `paged` is False: the export)."""
    name = queries.team_name(site.inst, team_key)
    if name is None:
        raise UnknownTeam("no such care team")
    team = Team(key=team_key, name=name)
    found = queries.worklist(site.inst, team_key, as_of, query_of(filters, paged=paged))
    rows = entry_rows(found.entries, book=site.book, phi_level=site.config.phi_level,
                      worklist_url=site.config.worklist_url)
    return TeamWorklist(team=team, as_of=as_of, total=found.total, page=filters.page if paged else 1,
                        page_size=filters.page_size if paged else found.total, pages=found.pages if paged else 1,
                        counts=found.counts, filters=filters, rows=rows)


def build_search(site: Site, fragment: str, teams: Iterable[str], as_of: date) -> list[WorklistRow]:
    """The patients of `teams` whose MRN contains `fragment` (at most 50), by MRN."""
    found = queries.search(site.inst, fragment, list(teams), as_of)
    return entry_rows(found, book=site.book, phi_level=site.config.phi_level, worklist_url=site.config.worklist_url)


def build_worklist(site: Site, team_key: str, as_of: date, filters: WorklistFilters) -> Worklist:
    """A care team's patients on `as_of`, in the digest's sections (every patient: no cap), filtered and sorted."""
    team, teams = _team(site, team_key)
    found = queries.worklist(site.inst, team_key, as_of, queries.WorklistQuery(page_size=None))
    evaluations = [entry.evaluation for entry in found.entries]
    rows = entry_rows(found.entries, book=site.book, phi_level=site.config.phi_level,
                      worklist_url=site.config.worklist_url)
    by_id = {str(ev.patient_id): ev for ev in evaluations}
    query = (filters.q or "").casefold()
    listed = [row for row in rows if in_sections(by_id[row.patient_id])]
    others = [row for row in rows if not in_sections(by_id[row.patient_id]) and matches(row, filters)]
    return Worklist(
        team=team, teams=teams, as_of=as_of, phi_level=site.config.phi_level, filters=filters,
        under_surveillance=sum(ev.status in WINDOW_STATUSES for ev in evaluations),
        sections=build_sections(listed, by_id, filters),
        other_matches=sort_rows(others, filters.sort, filters.order) if query else [],
    )


# One patient ------------------------------------------------------------------------------------

def _follow_ups(found: queries.PatientFile) -> list[FollowUpModel]:
    withdrawn = {f.withdraws for f in found.follow_ups if f.withdraws is not None}
    return [follow_up_model(f, withdrawn=f.id in withdrawn) for f in found.follow_ups]


def build_patient(site: Site, patient_id: str, as_of: date) -> PatientDetail | None:
    """The patient's evaluation on `as_of`, its history and follow-ups, or None for an unknown patient."""
    found = queries.patient(site.inst, patient_id, as_of)
    if found is None:
        return None
    record, evaluation, history, team_name = found.record, found.evaluation, found.history, found.team_name
    summary = digest_rows([evaluation], {record.patient_id: record.name}, book=site.book,
                          phi_level=site.config.phi_level, worklist_url=site.config.worklist_url)[0]
    summary.ref, summary.care_team = found.ref, record.care_team
    summary.follow_up = None if found.current is None else follow_up_model(found.current)
    return PatientDetail(
        patient_id=record.patient_id, mrn=summary.mrn, name=display_name(record.name, site.config.phi_level),
        team=Team(key=record.care_team, name=team_name), as_of=as_of, phi_level=site.config.phi_level,
        summary=summary, evaluation=EvaluationModel.model_validate(evaluation.to_dict()),
        facts=_facts(record, evaluation, site.book), scans=_scans(record, evaluation, _qualifying(site, evaluation)),
        windows=_windows(history, evaluation), flags=[_event(e) for e in history if e.kind in FLAG_KINDS],
        data_issues=[DataIssue(code=code, text=ISSUE_WORDS.get(code, code.replace("_", " ")))
                     for code in evaluation.data_issues],
        quarantine=[quarantined(row) for row in found.quarantine],
        ref=found.ref, follow_ups=_follow_ups(found), follow_up=summary.follow_up,
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


def quarantined(row: queries.QuarantineRow) -> QuarantineModel:
    return QuarantineModel(id=row.id, source=clean_text(row.source), line_no=row.line_no,
                           record_key=None if row.record_key is None else clean_text(row.record_key),
                           errors=[FieldErrorModel(field=clean_text(e.field), message=clean_text(e.message))
                                   for e in row.errors],
                           created_at=row.created_at)
