"""The patient database schema, in one place: SQLAlchemy Core tables on one `MetaData`.

Timestamps are UTC, set in code (`utcnow()`), never by the server's clock or time zone.
The migrations in netflow/migrations/versions/ must build exactly this schema; a test compares them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from netflow.adapters.db import utcnow

__all__ = [
    "BUCKETS",
    "NAMING_CONVENTION",
    "audit_log",
    "care_teams",
    "events",
    "follow_ups",
    "imaging_studies",
    "metadata",
    "outbox",
    "patient_state",
    "patients",
    "quarantine",
    "runs",
    "state_checks",
    "team_access",
    "team_members",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
BUCKETS = 1024  # patients.bucket = crc32(patient_id) % BUCKETS; shard k of n holds bucket % n == k

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _stamp(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


patients = Table(
    "patients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", String(64), nullable=False, unique=True),
    Column("name", Text),
    Column("birth_date", Date, nullable=False),
    Column("care_team", String(64), nullable=False),
    Column("primary_site", String(32), nullable=False),
    Column("differentiation", String(16), nullable=False),
    Column("grade", Integer),
    Column("ki67_percent", Float),
    Column("tumor_size_mm", Float),
    Column("nodes_positive", Integer),
    Column("nodes_examined", Integer),
    Column("margin", String(8)),
    Column("resection_type", String(32)),
    Column("lymphovascular_invasion", Boolean),
    Column("gastric_type", Integer),
    Column("hereditary_syndrome", String(16)),
    Column("resection_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_date", Date),
    Column("guideline", String(64)),
    Column("bucket", Integer, nullable=False),
    Column("record_hash", String(64), nullable=False),
    _stamp("created_at"),
    _stamp("updated_at"),
    # The opaque reference that addresses the patient in URLs and emails (never the MRN): random,
    # set when the patient is first stored and never changed (migration 0004 filled existing rows).
    Column("ref", String(24)),
    Index(None, "ref", unique=True),
    Index(None, "care_team", "updated_at"),  # a team's patients stamped since a date (migration 0007)
)

imaging_studies = Table(
    "imaging_studies",
    metadata,
    Column("id", Integer, primary_key=True),
    # Not a foreign key: an imaging file may arrive before the patients file. No index of its own:
    # the unique (patient_id, date, modality) index serves every lookup by patient (migration 0004).
    Column("patient_id", String(64), nullable=False),
    Column("date", Date, nullable=False),
    Column("modality", String(16), nullable=False),
    _stamp("created_at"),
    # Where the entry came from (migration 0004): NULL for an import file, "fhir" for a FHIR export,
    # "navigator" for a scan a nurse recorded as done elsewhere (a follow-up action). Imports never
    # delete imaging, whatever its source.
    Column("source", String(16)),
    # The source's own key for the entry: the FHIR resource ("ImagingStudy/123"), the follow-up id.
    Column("source_key", String(200)),
    UniqueConstraint("patient_id", "date", "modality"),
)

care_teams = Table(
    "care_teams",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("guideline", String(64)),
    _stamp("updated_at"),
    Column("fhir_ids", Text),  # the teams file's `fhir` identifiers as a JSON list (migration 0004)
)

team_members = Table(
    "team_members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_key", String(64), ForeignKey("care_teams.key", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("email", String(320), nullable=False),
    UniqueConstraint("team_key", "role", "email"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(255), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("record_key", String(64), index=True),
    Column("raw", Text, nullable=False),
    Column("errors", Text, nullable=False),
    Column("raw_hash", String(64), nullable=False),
    _stamp("created_at"),
    _stamp("resolved_at", nullable=True),
    _stamp("reported_at", nullable=True),
    UniqueConstraint("raw_hash"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("team_key", String(64)),
    Column("run_id", String(100), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("subject", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("to_addrs", Text, nullable=False),
    Column("cc_addrs", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("status", String(10), nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    _stamp("created_at"),
    _stamp("sent_at", nullable=True),
    _stamp("requeued_at", nullable=True),  # the last `netflow outbox retry` of this message (migration 0003)
    Column("requeued_by", String(100)),
    Index(None, "status"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", String(64), nullable=False),
    Column("care_team", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("event_key", String(200), nullable=False),
    Column("window_open", Date),
    Column("as_of", Date, nullable=False),
    Column("run_id", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("outbox_id", Integer, ForeignKey("outbox.id")),
    _stamp("created_at"),
    UniqueConstraint("patient_id", "kind", "event_key"),
    Index(None, "patient_id"),
    Index(None, "outbox_id"),
)

# Follow-up actions recorded by the care team (migration 0004). Append-only: a withdrawal is a new
# row naming the one it withdraws (`withdraws`), never an update or a delete.
follow_ups = Table(
    "follow_ups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", String(64), nullable=False, index=True),
    Column("care_team", String(64), nullable=False),
    Column("action", String(20), nullable=False),  # scan_booked, done_elsewhere, deferred, contacted, note, withdrawn
    Column("date", Date),  # scan_booked: the booked date; done_elsewhere: the scan's date
    Column("until", Date),  # deferred: no reminders until this date
    Column("modality", String(16)),  # done_elsewhere
    Column("reason", Text),  # deferred
    Column("note", Text),
    Column("withdraws", Integer, ForeignKey("follow_ups.id")),
    Column("recorded_by", String(100), nullable=False),
    _stamp("recorded_at"),
)

# Who looked at or did what (migration 0004): follow-up actions, patient page views, exports.
# Appended by the application, never updated or deleted by it.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    _stamp("at"),
    Column("username", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("patient_id", String(64)),
    Column("team_key", String(64)),
    Column("detail", Text),
    Index(None, "at"),
)

# The Airflow users who may see and act on a team's patients: the teams file's `members` (migration 0004).
team_access = Table(
    "team_access",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_key", String(64), ForeignKey("care_teams.key", ondelete="CASCADE"), nullable=False),
    Column("username", String(100), nullable=False),
    UniqueConstraint("team_key", "username"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(100), nullable=False, unique=True),
    Column("as_of", Date, nullable=False),
    _stamp("started_at"),
    _stamp("finished_at", nullable=True),
    Column("summary", Text),
)

# The FHIR Bulk Data exports pulled per EHR Group (migration 0006): the transactionTime of the last export
# that landed in the inbox (the next export's `_since`, kept as the server wrote it) and how the last one went.
fhir_exports = Table(
    "fhir_exports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("group_id", String(200), nullable=False, unique=True),
    Column("transaction_time", String(40)),  # a FHIR instant, e.g. 2026-12-07T05:00:00.123+00:00
    Column("last_status", String(20), nullable=False),  # landed, failed
    Column("last_error", Text),  # one line, no patient data, no URL
    Column("last_folder", String(200)),
    _stamp("updated_at"),
)

# Which netflow patient each FHIR Patient resource is (migration 0006): filled when an import reads a Patient
# with an MR identifier, read when an incremental (`_since`) export holds a patient's new resources but not
# their Patient. One EHR FHIR server per installation: a Patient id is unique on its server (docs/fhir.md).
fhir_patients = Table(
    "fhir_patients",
    metadata,
    Column("fhir_id", String(64), primary_key=True),  # the Patient resource id (FHIR ids are 1-64 characters)
    Column("patient_id", String(64), nullable=False),  # the MR identifier: patients.patient_id once imported
    _stamp("updated_at"),
)

# Where each patient stands after the last daily run that decided their events (migration 0005), and the
# first date on which that can change: a daily run evaluates again only the patients whose data changed
# since the shard was last checked (state_checks) or whose next_change has come. Owned by adapters/state.py;
# rebuilt by `netflow remind --full`. SQLite keeps it clustered by patient_id (WITHOUT ROWID).
patient_state = Table(
    "patient_state",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("bucket", Integer, nullable=False),
    Column("care_team", String(64)),
    Column("status", String(16), nullable=False),
    Column("guideline", String(64)),
    Column("rule_id", String(64)),
    Column("risk_tier", String(16)),
    Column("risk_reasons", String(200), nullable=False),  # codes, comma-separated, in the spec's order
    Column("review_reasons", String(200), nullable=False),
    Column("last_scan", Date),
    Column("window_open", Date),
    Column("window_close", Date),
    Column("overdue_from", Date),  # window_close + grace: days_overdue on a date D is D - overdue_from
    Column("escalation_level", Integer, nullable=False),
    Column("recommended_modality", String(40)),
    Column("next_change", Date),  # None: not until the data or the rules change
    Column("context", String(64), nullable=False),  # the rules fingerprint (netflow.domain.changes)
    Column("as_of", Date, nullable=False),
    _stamp("updated_at"),
    # The team totals and a worklist page of the team, from the index alone (migration 0007)
    Index("ix_patient_state_worklist", "care_team", "status", "escalation_level", "risk_tier", "overdue_from",
          "window_close", "window_open", "next_change", "as_of", "context"),
    sqlite_with_rowid=False,
)

# When each shard (of NETFLOW_SHARDS) was last checked whole for changed data: the start of the last daily
# run that evaluated every stale patient of it (migration 0005). Data stamped since then (less a margin)
# is looked at again.
state_checks = Table(
    "state_checks",
    metadata,
    Column("shards", Integer, primary_key=True),
    Column("shard", Integer, primary_key=True),
    _stamp("started_at"),
    Column("as_of", Date, nullable=False),
)
