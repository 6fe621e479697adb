"""What the worklist pages show, as Pydantic models: the JSON endpoints return them, the templates render them.

One model per page, built in `views`; every word in them is already decided (the row wording is the
digest's, netflow.domain.digest), so the templates only lay them out.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime

from pydantic import BaseModel, Field

__all__ = [
    "AuditEntryModel", "AuditList", "Bar", "DataIssue", "EvaluationModel", "EventModel", "Fact", "FieldErrorModel",
    "FollowUpModel", "Overview", "PatientDetail", "QuarantineList", "QuarantineModel", "RunModel", "ScanModel", "Team",
    "TeamOverview", "TeamWorklist", "Worklist", "WorklistFilters", "WorklistRow", "WorklistSection", "WindowModel",
]


class Team(BaseModel):
    key: str
    name: str


class FieldErrorModel(BaseModel):
    field: str
    message: str


class FollowUpModel(BaseModel):
    """A follow-up action recorded by the care team (a withdrawal is one too: action "withdrawn")."""

    id: int
    action: str = Field(description="scan_booked, done_elsewhere, deferred, contacted, note or withdrawn")
    date: dt.date | None = Field(description="scan_booked: the booked date; done_elsewhere: the scan's date")
    until: dt.date | None = Field(description="deferred: no reminders until this date")
    modality: str | None
    reason: str | None
    note: str | None
    withdraws: int | None = Field(description="withdrawn: the id of the action it withdraws")
    user: str = Field(description="the Airflow user who recorded it")
    recorded_at: datetime
    text: str = Field(description='in words, e.g. "booked for 2027-01-10 by jdoe"')
    withdrawn: bool = Field(default=False, description="a later record withdrew it")


class WorklistRow(BaseModel):
    """One patient in one section: the codes of the evaluation and the words the digest email uses."""

    patient_id: str
    ref: str | None = Field(default=None, description="the patient's page reference: /netflow/patients/{ref}")
    care_team: str = ""
    mrn: str = Field(description="the MRN as displayed (one line of text)")
    name: str = Field(description="initials, or the full name when NETFLOW_PHI_LEVEL is 'full'")
    status: str = Field(description="the evaluation status; 'escalated' for overdue at escalation level 2")
    status_text: str
    escalation_level: int
    window_open: date | None
    window_close: date | None
    window: str
    days_overdue: int
    risk_tier: str | None
    risk_reasons: list[str]
    risk: str
    recommended_modality: str | None
    modality: str
    guideline: str | None
    rule_id: str | None
    rule: str
    last_scan: date | None
    explanation: str
    follow_up: FollowUpModel | None = Field(default=None, description="the follow-up action in force, if any")


class WorklistSection(BaseModel):
    key: str = Field(description="escalated, overdue, due, due_soon, high_risk, needs_review or not_indicated")
    title: str
    count: int = Field(description="patients in this section before the filters")
    rows: list[WorklistRow] = Field(description="the patients that pass the filters, in the requested order")


class WorklistFilters(BaseModel):
    status: str | None = None
    risk: str | None = None
    q: str | None = Field(default=None, description="part of an MRN")
    sort: str = "urgency"
    order: str = "asc"
    follow_up: str | None = Field(default=None, description="none, any, or an action")
    overdue_min_days: int | None = None
    page: int = 1
    page_size: int = 50


class TeamWorklist(BaseModel):
    """One page of a care team's whole worklist: every patient, filtered, sorted and paged on the server."""

    team: Team
    as_of: date
    total: int = Field(description="patients that pass the filters")
    page: int
    page_size: int
    pages: int
    counts: dict[str, int] = Field(description="the whole team's patients by status (escalated, overdue, due, "
                                               "due_soon, not_due, needs_review, not_indicated, completed, "
                                               "inactive, invalid), high_risk and under_surveillance")
    filters: WorklistFilters
    rows: list[WorklistRow]


class Worklist(BaseModel):
    """A care team's open worklist on one date, in the digest's sections."""

    team: Team
    teams: list[Team]
    as_of: date
    phi_level: str
    filters: WorklistFilters
    under_surveillance: int
    sections: list[WorklistSection]
    other_matches: list[WorklistRow] = Field(
        default_factory=list, description="patients whose MRN matches the search but who are in no section")


class EvaluationModel(BaseModel):
    """The evaluation object of surveillance-rules.md section 7."""

    patient_id: str
    as_of: date
    guideline: str | None
    rule_id: str | None
    status: str
    risk_tier: str | None
    risk_reasons: list[str]
    last_scan: date | None
    window_open: date | None
    window_close: date | None
    interval_months: list[int] | None
    days_overdue: int
    escalation_level: int
    recommended_modality: str | None
    data_issues: list[str]
    errors: list[FieldErrorModel]
    explanation: str


class Fact(BaseModel):
    label: str
    value: str


class ScanModel(BaseModel):
    date: dt.date
    modality: str
    counts: bool = Field(description="a qualifying scan: after the resection, on or before the as-of date, of a "
                                     "modality the patient's rule counts (CT or MRI unless the rule names others)")
    latest: bool = Field(description="the latest qualifying scan, which the window counts from")
    note: str


class EventModel(BaseModel):
    """An event recorded for the patient: when a run recorded it, and the digest it went out in."""

    id: int
    kind: str
    kind_text: str
    as_of: date = Field(description="the as-of date of the run that recorded it (the reminder's date)")
    created_at: datetime | None
    run_id: str
    outbox_id: int | None = Field(description="the digest (outbox message) that carried it")
    digest_status: str | None = Field(description="pending, sent or failed; null when in no digest")
    sent_at: datetime | None
    detail: str


class WindowModel(BaseModel):
    window_open: date
    window_close: date | None
    events: list[EventModel]
    closed_on: date | None = Field(description="the as-of date of the run that saw the window met")
    closed_by_scan: date | None
    current: bool = Field(description="the window of the evaluation shown")


class DataIssue(BaseModel):
    code: str
    text: str


class QuarantineModel(BaseModel):
    id: int
    source: str
    line_no: int
    record_key: str | None
    errors: list[FieldErrorModel]
    created_at: datetime | None


class PatientDetail(BaseModel):
    """One patient on one date: the evaluation and why, the scans, the windows and their reminders."""

    patient_id: str
    mrn: str
    name: str
    team: Team
    as_of: date
    phi_level: str
    summary: WorklistRow
    evaluation: EvaluationModel
    facts: list[Fact]
    scans: list[ScanModel]
    windows: list[WindowModel]
    flags: list[EventModel] = Field(description="high-risk, review and no-surveillance events")
    data_issues: list[DataIssue]
    quarantine: list[QuarantineModel] = Field(description="rows for this MRN that failed validation, unresolved")
    ref: str | None = Field(default=None, description="the page reference: /netflow/patients/{ref}")
    follow_ups: list[FollowUpModel] = Field(default_factory=list, description="every action, newest first")
    follow_up: FollowUpModel | None = Field(default=None, description="the follow-up action in force, if any")


class Bar(BaseModel):
    key: str
    label: str
    count: int
    colour: str


class TeamOverview(BaseModel):
    team: Team
    patients: int
    under_surveillance: int
    worklist: dict[str, int] = Field(description="patients by bucket: not_due, due_soon, due_now, overdue, "
                                                 "escalated, needs_review, not_indicated")
    bars: list[Bar]
    median_days_overdue: float | None
    closed: int
    closed_on_time: int
    on_time_rate: float | None
    with_data_issues: int
    data_issues: dict[str, int]
    invalid: int


class RunModel(BaseModel):
    run_id: str
    as_of: date
    started_at: datetime | None
    finished_at: datetime | None
    evaluated: int | None
    events: dict[str, int]
    digests: int | None
    sent: int | None
    retrying: int | None
    failed: int | None
    dry_run: bool
    airflow_url: str | None = Field(description="the run in the Airflow UI; null for command-line runs")


class Overview(BaseModel):
    as_of: date
    teams: list[TeamOverview]
    runs: list[RunModel]
    open_quarantine: int
    pending_messages: int = Field(default=0, description="outbox messages not yet accepted by the mail server "
                                                         "(they go with the next run)")
    failed_messages: int = Field(default=0, description="outbox messages refused too often: sent again only "
                                                        "once requeued with 'netflow outbox retry'")


class QuarantineList(BaseModel):
    rows: list[QuarantineModel]


class AuditEntryModel(BaseModel):
    at: datetime
    user: str
    action: str
    patient_id: str | None
    team: str | None
    detail: str | None


class AuditList(BaseModel):
    since: date
    entries: list[AuditEntryModel]
