"""The questions the worklist pages ask (read-only): a team's patients, one patient, the overview.

    team_names(inst)                                       # {"gi-onc-east": "GI Oncology East", ...}
    team_patients(inst, "gi-onc-east", date(2026, 12, 1))  # its evaluations and the patients' names
    patient(inst, "MRN0000001", date(2026, 12, 1))         # record, evaluation, history; None if unknown
    overview(inst, date(2026, 12, 1))                      # every team's metrics, the latest runs

Nothing here writes. The pages (netflow_airflow.worklist) turn these values into their models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from netflow.adapters.ledger import EventEntry, RunEntry
from netflow.adapters.patients import QuarantineRow
from netflow.cohort import evaluate_cohort, evaluate_patient
from netflow.domain.evaluation import Evaluation
from netflow.domain.metrics import TeamMetrics
from netflow.domain.record import PatientRecord
from netflow.installation import Installation
from netflow.reports.metrics import team_metrics

__all__ = ["EventEntry", "Overview", "PatientFile", "QuarantineRow", "RunEntry", "TeamPatients", "overview",
           "patient", "quarantine", "team_names", "team_patients"]


def team_names(inst: Installation) -> dict[str, str]:
    """Every care team by key (configured ones by name; keys only patients name, as themselves)."""
    return inst.db.patients.care_team_names()


@dataclass(frozen=True)
class TeamPatients:
    evaluations: list[Evaluation]
    names: dict[str, str | None]


def team_patients(inst: Installation, team: str, as_of: date) -> TeamPatients:
    """Every patient of `team` evaluated on `as_of`, with their recorded names."""
    evaluations = list(evaluate_cohort(inst.db, as_of, inst.book, team=team))
    return TeamPatients(evaluations, inst.db.patients.team_patient_names(team))


@dataclass(frozen=True)
class PatientFile:
    """One patient on a date: the stored record, its evaluation, its events and open quarantine rows."""

    record: PatientRecord
    evaluation: Evaluation
    history: list[EventEntry]
    quarantine: list[QuarantineRow]
    team_name: str


def patient(inst: Installation, patient_id: str, as_of: date) -> PatientFile | None:
    record = inst.db.patients.find_record(patient_id)
    if record is None:
        return None
    evaluation = evaluate_patient(inst.db, record, as_of, inst.book)
    return PatientFile(record, evaluation, inst.db.ledger.patient_events(patient_id),
                       inst.db.patients.open_quarantine_rows(patient_id),
                       team_names(inst).get(record.care_team, record.care_team))


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
