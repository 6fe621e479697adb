"""Rules v2: the record's resection type, lymphovascular invasion and gastric type.

Three nullable columns on `patients`; no data changes. A patient stored before has NULL in each,
which is what a v1 record means (not recorded), and keeps its record_hash (see
netflow.adapters.patients.record_hash).

Revision ID: 0002
Revises: 0001
Create Date: 2026-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("resection_type", "lymphovascular_invasion", "gastric_type")


def upgrade() -> None:
    # ADD COLUMN of a nullable column: no table rewrite on SQLite or PostgreSQL.
    op.add_column("patients", sa.Column("resection_type", sa.String(32), nullable=True))
    op.add_column("patients", sa.Column("lymphovascular_invasion", sa.Boolean(), nullable=True))
    op.add_column("patients", sa.Column("gastric_type", sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: batch mode does it, keeping indexes and constraints.
    with op.batch_alter_table("patients") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
