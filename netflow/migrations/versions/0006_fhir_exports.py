"""The FHIR Bulk Data exports pulled from the EHR (issue 15): one row per Group.

- `fhir_exports`: the transactionTime of the last export that landed in the inbox (sent as `_since` by
  the next one), and the status, error and folder of the last attempt.
- `fhir_patients`: the netflow patient (MRN) of each FHIR Patient resource id an import has read, so that
  an incremental export's resources of a patient whose Patient is not in it still reach their record.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_exports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("group_id", sa.String(200), nullable=False),
        sa.Column("transaction_time", sa.String(40)),
        sa.Column("last_status", sa.String(20), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_folder", sa.String(200)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fhir_exports"),
        sa.UniqueConstraint("group_id", name="uq_fhir_exports_group_id"),
    )
    op.create_table(
        "fhir_patients",
        sa.Column("fhir_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fhir_id", name="pk_fhir_patients"),
    )


def downgrade() -> None:
    op.drop_table("fhir_patients")
    op.drop_table("fhir_exports")
