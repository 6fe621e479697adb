"""The patient database: patients, imaging, care teams, quarantine, events, outbox, runs.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stamp(name: str, nullable: bool = False) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(table: str) -> tuple[sa.Column[int], sa.PrimaryKeyConstraint]:
    return sa.Column("id", sa.Integer(), nullable=False), sa.PrimaryKeyConstraint("id", name=f"pk_{table}")


def _patients() -> None:
    column, pk = _id("patients")
    op.create_table(
        "patients",
        column,
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("care_team", sa.String(64), nullable=False),
        sa.Column("primary_site", sa.String(32), nullable=False),
        sa.Column("differentiation", sa.String(16), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("ki67_percent", sa.Float(), nullable=True),
        sa.Column("tumor_size_mm", sa.Float(), nullable=True),
        sa.Column("nodes_positive", sa.Integer(), nullable=True),
        sa.Column("nodes_examined", sa.Integer(), nullable=True),
        sa.Column("margin", sa.String(8), nullable=True),
        sa.Column("hereditary_syndrome", sa.String(16), nullable=True),
        sa.Column("resection_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_date", sa.Date(), nullable=True),
        sa.Column("guideline", sa.String(64), nullable=True),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        pk,
        sa.UniqueConstraint("patient_id", name="uq_patients_patient_id"),
    )
    op.create_index("ix_patients_care_team", "patients", ["care_team"])


def _imaging() -> None:
    column, pk = _id("imaging_studies")
    op.create_table(
        "imaging_studies",
        column,
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("modality", sa.String(16), nullable=False),
        _stamp("created_at"),
        pk,
        sa.UniqueConstraint("patient_id", "date", "modality",
                            name="uq_imaging_studies_patient_id_date_modality"),
    )
    op.create_index("ix_imaging_studies_patient_id", "imaging_studies", ["patient_id"])


def _teams() -> None:
    op.create_table(
        "care_teams",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("guideline", sa.String(64), nullable=True),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("key", name="pk_care_teams"),
    )
    column, pk = _id("team_members")
    op.create_table(
        "team_members",
        column,
        sa.Column("team_key", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        pk,
        sa.ForeignKeyConstraint(["team_key"], ["care_teams.key"], ondelete="CASCADE",
                                name="fk_team_members_team_key_care_teams"),
        sa.UniqueConstraint("team_key", "role", "email", name="uq_team_members_team_key_role_email"),
    )


def _quarantine() -> None:
    column, pk = _id("quarantine")
    op.create_table(
        "quarantine",
        column,
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.String(64), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("raw_hash", sa.String(64), nullable=False),
        _stamp("created_at"),
        _stamp("resolved_at", nullable=True),
        _stamp("reported_at", nullable=True),
        pk,
        sa.UniqueConstraint("raw_hash", name="uq_quarantine_raw_hash"),
    )
    op.create_index("ix_quarantine_record_key", "quarantine", ["record_key"])


def _outbox() -> None:
    column, pk = _id("outbox")
    op.create_table(
        "outbox",
        column,
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("team_key", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(100), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("to_addrs", sa.Text(), nullable=False),
        sa.Column("cc_addrs", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _stamp("created_at"),
        _stamp("sent_at", nullable=True),
        pk,
        sa.UniqueConstraint("message_id", name="uq_outbox_message_id"),
    )
    op.create_index("ix_outbox_status", "outbox", ["status"])


def _events() -> None:
    column, pk = _id("events")
    op.create_table(
        "events",
        column,
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("care_team", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("window_open", sa.Date(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        _stamp("created_at"),
        pk,
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name="fk_events_outbox_id_outbox"),
        sa.UniqueConstraint("patient_id", "kind", "event_key", name="uq_events_patient_id_kind_event_key"),
    )
    op.create_index("ix_events_patient_id", "events", ["patient_id"])
    op.create_index("ix_events_outbox_id", "events", ["outbox_id"])


def _runs() -> None:
    column, pk = _id("runs")
    op.create_table(
        "runs",
        column,
        sa.Column("run_id", sa.String(100), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        _stamp("started_at"),
        _stamp("finished_at", nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        pk,
        sa.UniqueConstraint("run_id", name="uq_runs_run_id"),
    )


def upgrade() -> None:
    _patients()
    _imaging()
    _teams()
    _quarantine()
    _outbox()
    _events()
    _runs()


def downgrade() -> None:
    for table in ("runs", "events", "outbox", "quarantine", "team_members", "care_teams",
                  "imaging_studies", "patients"):
        op.drop_table(table)
