"""The questions the worklist pages ask (read-only): a team's worklist, one patient, the overview.

    team_names(inst)                                       # {"gi-onc-east": "GI Oncology East", ...}
    visible_teams(inst, "jdoe", admin=False)               # the teams whose members list jdoe
    page = worklist(inst, "gi-onc-east", date(2026, 12, 1), WorklistQuery(status="overdue", page=2))
    page.total, page.counts["overdue"], page.entries[0].follow_up
    search(inst, "MRN00012", ["gi-onc-east"], date(2026, 12, 1))   # MRNs containing it, in these teams
    patient(inst, "MRN0000001", date(2026, 12, 1))         # record, evaluation, history; None if unknown

`worklist` is the one place that filters, counts, sorts and slices a team's patients: today it
evaluates the team on the date; a precomputed state table can answer the same question later
without any caller changing. Nothing here writes. The pages (netflow_airflow.worklist) turn these
values into their models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from netflow.adapters.ledger import EventEntry, RunEntry
from netflow.adapters.patients import QuarantineRow
from netflow.cohort import evaluate_cohort, evaluate_patient
from netflow.domain.evaluation import Evaluation
from netflow.domain.followups import ACTIONS, FollowUp
from netflow.domain.metrics import TeamMetrics
from netflow.domain.record import PatientRecord
from netflow.installation import Installation
from netflow.reports.metrics import team_metrics
from netflow.services.followups import current_follow_ups

__all__ = ["FOLLOW_UP_FILTERS", "RISK_TIERS", "SORT_KEYS", "STATUSES", "EventEntry", "Overview", "PatientFile",
           "QuarantineRow", "RunEntry", "WorklistEntry", "WorklistPage", "WorklistQuery", "count_statuses",
           "overview", "patient", "patient_id_for_ref", "patient_team", "quarantine", "row_status", "search",
           "team_names", "visible_teams", "worklist"]

# The worklist's statuses, most urgent first: the evaluation's, with "escalated" for overdue at escalation
# level 2 (the overview's buckets; `netflow scan` counts both as "overdue").
STATUSES = ("escalated", "overdue", "due", "due_soon", "not_due", "needs_review", "not_indicated", "completed",
            "inactive", "invalid")
RISK_TIERS = ("high", "standard", "low")
# "none": no follow-up in force; "any": some; or one action.
FOLLOW_UP_FILTERS = ("none", "any", *ACTIONS)
_RANK = {status: rank for rank, status in enumerate(STATUSES)}
_TIER = {tier: rank for rank, tier in enumerate(RISK_TIERS)}


def row_status(evaluation: Evaluation) -> str:
    """The status as the worklist shows and filters it: 'escalated' for overdue at escalation level 2."""
    if evaluation.status == "overdue" and evaluation.escalation_level >= 2:
        return "escalated"
    return evaluation.status


def _none_last(value: Any) -> tuple[bool, Any]:
    return value is None, value


def _urgency(ev: Evaluation) -> tuple[Any, ...]:
    """Most urgent status first, then most escalated and overdue, the earliest window, the MRN."""
    return (_RANK.get(row_status(ev), len(_RANK)), -ev.escalation_level, -ev.days_overdue,
            _none_last(ev.window_close), _none_last(ev.window_open), str(ev.patient_id))


# key -> sort key of an evaluation (names: the recorded name, casefolded)
SORT_KEYS: dict[str, Callable[[Evaluation, str], Any]] = {
    "urgency": lambda ev, name: _urgency(ev),
    "mrn": lambda ev, name: str(ev.patient_id),
    "name": lambda ev, name: name,
    "status": lambda ev, name: (_RANK.get(row_status(ev), len(_RANK)), -ev.days_overdue),
    "window": lambda ev, name: _none_last(ev.window_open),
    "days_overdue": lambda ev, name: ev.days_overdue,
    "risk": lambda ev, name: (_TIER.get(ev.risk_tier or "", len(_TIER)), -len(ev.risk_reasons)),
    "modality": lambda ev, name: ev.recommended_modality or "",
    "last_scan": lambda ev, name: _none_last(ev.last_scan),
}


def team_names(inst: Installation) -> dict[str, str]:
    """Every care team by key (configured ones by name; keys only patients name, as themselves)."""
    return inst.db.patients.care_team_names()


def visible_teams(inst: Installation, user: str, *, admin: bool) -> dict[str, str]:
    """The care teams `user` may see and act on, by key with their names: every team for an Airflow
    admin; otherwise the configured teams whose `members` list the user (none: an empty dict)."""
    names = team_names(inst)
    if admin:
        return names
    allowed = {key for key, team in inst.db.patients.care_teams().items() if user in team.users}
    return {key: name for key, name in names.items() if key in allowed}


@dataclass(frozen=True)
class WorklistQuery:
    """What to show of a team's worklist. `status` is one of STATUSES; `overdue_min_days` keeps the
    patients overdue at least that many days (with status "overdue", escalated ones included: the
    digest's "overdue more than a year" link); `q` a part of an MRN; `page_size` None: every row."""

    status: str | None = None
    risk: str | None = None
    follow_up: str | None = None
    overdue_min_days: int | None = None
    q: str | None = None
    sort: str = "urgency"
    order: str = "asc"
    page: int = 1
    page_size: int | None = 50

    def passes(self, ev: Evaluation) -> bool:
        """Whether the evaluation passes the status, risk, days-overdue and MRN filters."""
        if self.overdue_min_days is not None:
            if ev.status != "overdue" or ev.days_overdue < self.overdue_min_days:
                return False
            if self.status not in (None, "overdue", row_status(ev)):
                return False
        elif self.status is not None and row_status(ev) != self.status:
            return False
        if self.risk is not None and ev.risk_tier != self.risk:
            return False
        return not self.q or self.q.casefold() in str(ev.patient_id).casefold()


@dataclass(frozen=True)
class WorklistEntry:
    """One patient of a worklist: the evaluation, the recorded name, the page reference, the follow-up in force."""

    evaluation: Evaluation
    name: str | None
    ref: str | None
    follow_up: FollowUp | None


@dataclass(frozen=True)
class WorklistPage:
    """One page of a team's worklist: `total` patients pass the filters; `counts` are the whole team's by
    status (before any filter), with high_risk and under_surveillance as the digest counts them."""

    team: str
    as_of: date
    query: WorklistQuery
    total: int
    counts: dict[str, int]
    entries: list[WorklistEntry] = field(default_factory=list)

    @property
    def pages(self) -> int:
        size = self.query.page_size
        return 1 if not size else max(1, -(-self.total // size))


def count_statuses(evaluations: Iterable[Evaluation]) -> dict[str, int]:
    """Patients by worklist status, plus high_risk and under_surveillance (the digest's counters)."""
    counts = Counter({status: 0 for status in STATUSES})
    for ev in evaluations:
        counts[row_status(ev)] += 1
        if ev.status in ("not_due", "due_soon", "due", "overdue"):
            counts["under_surveillance"] += 1
            counts["high_risk"] += ev.risk_tier == "high"
    return dict(counts)


def worklist(inst: Installation, team: str, as_of: date, query: WorklistQuery) -> WorklistPage:
    """A team's patients on `as_of`: counted, filtered, sorted, and the requested page of them."""
    evaluations = list(evaluate_cohort(inst.db, as_of, inst.book, team=team))
    names = inst.db.patients.team_patient_names(team)
    wanted = [ev for ev in evaluations if query.passes(ev)]
    follow: dict[str, FollowUp] | None = None
    if query.follow_up in FOLLOW_UP_FILTERS:
        follow = current_follow_ups(inst, [str(ev.patient_id) for ev in wanted], as_of)
        wanted = [ev for ev in wanted if _follow_up_passes(follow.get(str(ev.patient_id)), query.follow_up)]
    sort = SORT_KEYS.get(query.sort, SORT_KEYS["urgency"])
    wanted.sort(key=lambda ev: sort(ev, (names.get(str(ev.patient_id)) or "").casefold()),
                reverse=query.order == "desc")
    if query.page_size:
        start = (max(query.page, 1) - 1) * query.page_size
        chosen = wanted[start:start + query.page_size]
    else:
        chosen = wanted
    return WorklistPage(team, as_of, query, len(wanted), count_statuses(evaluations),
                        _entries(inst, chosen, names, as_of, follow))


def _follow_up_passes(current: FollowUp | None, wanted: str | None) -> bool:
    if wanted == "none":
        return current is None
    if wanted == "any":
        return current is not None
    return current is not None and current.action == wanted


def _entries(inst: Installation, evaluations: list[Evaluation], names: dict[str, str | None], as_of: date,
             follow: dict[str, FollowUp] | None = None) -> list[WorklistEntry]:
    ids = [str(ev.patient_id) for ev in evaluations]
    refs = inst.db.patients.refs(ids)
    if follow is None:
        follow = current_follow_ups(inst, ids, as_of) if ids else {}
    return [WorklistEntry(ev, names.get(pid), refs.get(pid), follow.get(pid)) for ev, pid in zip(evaluations, ids,
                                                                                                  strict=True)]


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
    return _entries(inst, evaluations, names, as_of)


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
