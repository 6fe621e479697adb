"""The questions the worklist pages ask (read-only): a team's worklist, one patient, the overview.

    team_names(inst)                                       # {"gi-onc-east": "GI Oncology East", ...}
    visible_teams(inst, "jdoe", admin=False)               # the teams whose members list jdoe
    page = worklist(inst, "gi-onc-east", date(2026, 12, 1), WorklistQuery(status="overdue", page=2))
    page.total, page.counts["overdue"], page.entries[0].follow_up
    search(inst, "MRN00012", ["gi-onc-east"], date(2026, 12, 1))   # MRNs containing it, in these teams
    patient(inst, "MRN0000001", date(2026, 12, 1))         # record, evaluation, history; None if unknown

`worklist` is the one place that filters, counts, sorts and slices a team's patients. A page is read
from where each patient stands (the table the daily run keeps), with the patients whose standing may not
hold on the page's date evaluated on the fly and merged in (services.worklist_standings): so a page equals
a page of the team evaluated on its date. Before the first daily run, with more than a quarter of the
team to evaluate, and for every row at once (the export, the sections page), the team is evaluated as a
whole. The query, page and row values, the statuses and sort orders are services.worklist_query's
(re-exported here). Nothing here writes. The pages (netflow_airflow.worklist) turn these values into
their models.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from netflow import __version__
from netflow.adapters.ledger import EventEntry, RunEntry
from netflow.adapters.patients import QuarantineRow
from netflow.cohort import evaluate_cohort, evaluate_patient
from netflow.domain.evaluation import Evaluation
from netflow.domain.followups import FollowUp
from netflow.domain.metrics import TeamMetrics
from netflow.domain.record import PatientRecord
from netflow.installation import Installation
from netflow.reports.metrics import team_metrics
from netflow.services.followups import current_follow_ups
from netflow.services.worklist_query import (
    FOLLOW_UP_FILTERS,
    RISK_TIERS,
    SORT_KEYS,
    STATUSES,
    WorklistEntry,
    WorklistPage,
    WorklistQuery,
    count_statuses,
    follow_up_passes,
    row_status,
)
from netflow.services.worklist_standings import MIN_ON_THE_FLY, entries, page_from_standings

__all__ = ["FOLLOW_UP_FILTERS", "RISK_TIERS", "SORT_KEYS", "STATUSES", "EventEntry", "Overview", "PatientFile",
           "QuarantineRow", "RunEntry", "WorklistEntry", "WorklistPage", "WorklistQuery", "count_statuses",
           "overview", "patient", "patient_id_for_ref", "patient_team", "quarantine", "row_status", "search",
           "team_name", "team_names", "visible_teams", "worklist"]


def team_names(inst: Installation) -> dict[str, str]:
    """Every care team by key (configured ones by name; keys only patients name, as themselves)."""
    return inst.db.patients.care_team_names()


def team_name(inst: Installation, key: str) -> str | None:
    """One care team's name as team_names gives it (its key when only patients name it); None: no such team.
    Without reading every patient's team (a page of one team)."""
    configured = inst.db.patients.care_teams().get(key)
    if configured is not None:
        return configured.name
    return key if inst.db.state.team_size(key) else None


def visible_teams(inst: Installation, user: str, *, admin: bool) -> dict[str, str]:
    """The care teams `user` may see and act on, by key with their names: every team for an Airflow
    admin; otherwise the configured teams whose `members` list the user (none: an empty dict)."""
    names = team_names(inst)
    if admin:
        return names
    allowed = {key for key, team in inst.db.patients.care_teams().items() if user in team.users}
    return {key: name for key, name in names.items() if key in allowed}


def worklist(inst: Installation, team: str, as_of: date, query: WorklistQuery) -> WorklistPage:
    """A team's patients on `as_of`: counted, filtered, sorted, and the requested page of them."""
    if query.page_size:
        found = _from_standings(inst, team, as_of, query)
        if found is not None:
            return found
    return _evaluated(inst, team, as_of, query)


def _evaluated(inst: Installation, team: str, as_of: date, query: WorklistQuery) -> WorklistPage:
    """The page from the team evaluated as a whole on `as_of`."""
    evaluations = list(evaluate_cohort(inst.db, as_of, inst.book, team=team))
    names = inst.db.patients.team_patient_names(team)
    wanted = [ev for ev in evaluations if query.passes(ev)]
    follow: dict[str, FollowUp] | None = None
    if query.follow_up in FOLLOW_UP_FILTERS:
        follow = current_follow_ups(inst, [str(ev.patient_id) for ev in wanted], as_of)
        wanted = [ev for ev in wanted if follow_up_passes(follow.get(str(ev.patient_id)), query.follow_up)]
    sort = SORT_KEYS.get(query.sort, SORT_KEYS["urgency"])
    wanted.sort(key=lambda ev: sort(ev, (names.get(str(ev.patient_id)) or "").casefold()),
                reverse=query.order == "desc")
    if query.page_size:
        start = (max(query.page, 1) - 1) * query.page_size
        chosen = wanted[start:start + query.page_size]
    else:
        chosen = wanted
    return WorklistPage(team, as_of, query, len(wanted), count_statuses(evaluations),
                        entries(inst, chosen, names, as_of, follow))


def _from_standings(inst: Installation, team: str, as_of: date, query: WorklistQuery) -> WorklistPage | None:
    """The page from the kept standings (services.worklist_standings); None: evaluate the whole team. The
    engine's version and MIN_ON_THE_FLY are read here, at the call, so that one place sets them."""
    return page_from_standings(inst, team, as_of, query, engine=__version__, min_on_the_fly=MIN_ON_THE_FLY)


def search(inst: Installation, fragment: str, teams: Collection[str], as_of: date, limit: int = 50
           ) -> list[WorklistEntry]:
    """The patients of `teams` whose MRN contains `fragment`, by MRN, at most `limit`, evaluated on `as_of`."""
    if not fragment or not teams:
        return []
    evaluations = []
    names: dict[str, str | None] = {}
    for pid in inst.db.patients.search_patient_ids(fragment, teams, limit):
        record = inst.db.patients.find_record(pid)
        if record is not None:
            evaluations.append(evaluate_patient(inst.db, record, as_of, inst.book))
            names[pid] = record.name
    return entries(inst, evaluations, names, as_of)


@dataclass(frozen=True)
class PatientFile:
    """One patient on a date: the stored record, its evaluation, its events, open quarantine rows, follow-ups."""

    record: PatientRecord
    evaluation: Evaluation
    history: list[EventEntry]
    quarantine: list[QuarantineRow]
    team_name: str
    ref: str | None = None
    follow_ups: list[FollowUp] = field(default_factory=list)
    current: FollowUp | None = None


def patient_id_for_ref(inst: Installation, ref: str) -> str | None:
    """The patient behind a page reference (patients.ref), or None."""
    return inst.db.patients.patient_id_for_ref(ref) if ref else None


def patient_team(inst: Installation, patient_id: str) -> str | None:
    """The care team of a stored patient, or None when no patient has this id."""
    record = inst.db.patients.find_record(patient_id)
    return None if record is None else record.care_team


def patient(inst: Installation, patient_id: str, as_of: date) -> PatientFile | None:
    from netflow.services.followups import follow_ups_for

    record = inst.db.patients.find_record(patient_id)
    if record is None:
        return None
    evaluation = evaluate_patient(inst.db, record, as_of, inst.book)
    return PatientFile(record, evaluation, inst.db.ledger.patient_events(patient_id),
                       inst.db.patients.open_quarantine_rows(patient_id),
                       team_names(inst).get(record.care_team, record.care_team),
                       inst.db.patients.refs([patient_id]).get(patient_id), follow_ups_for(inst, patient_id),
                       current_follow_ups(inst, [patient_id], as_of).get(patient_id))


@dataclass(frozen=True)
class Overview:
    metrics: dict[str, TeamMetrics]
    runs: list[RunEntry]
    open_quarantine: int


def overview(inst: Installation, as_of: date, runs: int = 10) -> Overview:
    """Every care team's surveillance metrics on `as_of`, the latest daily runs, the open quarantine."""
    return Overview(team_metrics(inst.db, inst.book, as_of), inst.db.ledger.recent_runs(runs),
                    inst.db.patients.open_quarantine_count())


def quarantine(inst: Installation) -> list[QuarantineRow]:
    """Quarantined rows awaiting a fix, oldest first."""
    return inst.db.patients.open_quarantine_rows()
