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
    "care_teams",
    "events",
    "imaging_studies",
    "metadata",
    "outbox",
    "patients",
    "quarantine",
    "runs",
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
    Column("care_team", String(64), nullable=False, index=True),
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
)

imaging_studies = Table(
    "imaging_studies",
    metadata,
    Column("id", Integer, primary_key=True),
    # Not a foreign key: an imaging file may arrive before the patients file.
    Column("patient_id", String(64), nullable=False, index=True),
    Column("date", Date, nullable=False),
    Column("modality", String(16), nullable=False),
    _stamp("created_at"),
    UniqueConstraint("patient_id", "date", "modality"),
)

care_teams = Table(
    "care_teams",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("guideline", String(64)),
    _stamp("updated_at"),
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
