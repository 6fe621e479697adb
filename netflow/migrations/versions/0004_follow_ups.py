"""Closing the loop: follow-up actions, an audit trail, access per team, opaque patient references.

- `follow_ups`: the care team's actions on a patient (append-only; a withdrawal is a new row).
- `audit_log`: who viewed or did what, appended by the application.
- `team_access`: the Airflow users listed as a team's `members` in the teams file;
  `care_teams.fhir_ids`: its `fhir` identifiers (matched against FHIR CareTeam resources).
- `patients.ref`: the random reference that addresses a patient in URLs and emails instead of the
  MRN; every patient already stored gets one here.
- `imaging_studies.source` and `.source_key`: where an entry came from (an import file, a FHIR
  export, a navigator's "done elsewhere"); NULL for every entry stored before.
- `ix_imaging_studies_patient_id` goes: the unique (patient_id, date, modality) index serves the
  same lookups, and each import paid for updating both.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REF_BATCH = 5000


def new_ref() -> str:
    """A patient reference: 96 random bits, URL-safe (16 characters)."""
    return secrets.token_urlsafe(12)


def _stamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("care_team", sa.String(64), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("date", sa.Date()),
        sa.Column("until", sa.Date()),
        sa.Column("modality", sa.String(16)),
        sa.Column("reason", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.Column("withdraws", sa.Integer(), sa.ForeignKey("follow_ups.id", name="fk_follow_ups_withdraws_follow_ups")),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        _stamp("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_follow_ups"),
    )
    op.create_index("ix_follow_ups_patient_id", "follow_ups", ["patient_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        _stamp("at"),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("patient_id", sa.String(64)),
        sa.Column("team_key", sa.String(64)),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "team_access",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_key", sa.String(64),
                  sa.ForeignKey("care_teams.key", ondelete="CASCADE", name="fk_team_access_team_key_care_teams"),
                  nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_team_access"),
        sa.UniqueConstraint("team_key", "username", name="uq_team_access_team_key_username"),
    )
    # ADD COLUMN of nullable columns: no table rewrite on SQLite or PostgreSQL.
    op.add_column("patients", sa.Column("ref", sa.String(24), nullable=True))
    op.add_column("care_teams", sa.Column("fhir_ids", sa.Text(), nullable=True))
    op.add_column("imaging_studies", sa.Column("source", sa.String(16), nullable=True))
    op.add_column("imaging_studies", sa.Column("source_key", sa.String(200), nullable=True))
    _fill_refs()
    op.create_index("ix_patients_ref", "patients", ["ref"], unique=True)
    op.drop_index("ix_imaging_studies_patient_id", table_name="imaging_studies")


def _fill_refs() -> None:
    conn = op.get_bind()
    patients = sa.table("patients", sa.column("id", sa.Integer()), sa.column("ref", sa.String(24)))
    ids = [row[0] for row in conn.execute(sa.select(patients.c.id).where(patients.c.ref.is_(None)))]
    update = patients.update().where(patients.c.id == sa.bindparam("pk")).values(ref=sa.bindparam("new_ref"))
    for start in range(0, len(ids), REF_BATCH):
        conn.execute(update, [{"pk": pk, "new_ref": new_ref()} for pk in ids[start:start + REF_BATCH]])


def downgrade() -> None:
    op.create_index("ix_imaging_studies_patient_id", "imaging_studies", ["patient_id"])
    op.drop_index("ix_patients_ref", table_name="patients")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): none of these columns has a constraint left.
    op.drop_column("imaging_studies", "source_key")
    op.drop_column("imaging_studies", "source")
    op.drop_column("care_teams", "fhir_ids")
    op.drop_column("patients", "ref")
    op.drop_table("team_access")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_follow_ups_patient_id", table_name="follow_ups")
    op.drop_table("follow_ups")
