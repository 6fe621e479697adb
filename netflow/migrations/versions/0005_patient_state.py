"""Where each patient stands, and when it can change (issue 13): `patient_state` and `state_checks`.

`patient_state`: one row per patient, written by the daily run that decided the patient's events: the
evaluation summary (status, window, escalation, risk tier and reasons), `next_change` (the first date
the evaluation can change), the rules fingerprint it was computed under and the as-of date.
`state_checks`: when each shard was last checked whole for changed data. Both start empty: the first
daily run after the upgrade evaluates everyone and fills them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patient_state",
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("care_team", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("guideline", sa.String(64)),
        sa.Column("rule_id", sa.String(64)),
        sa.Column("risk_tier", sa.String(16)),
        sa.Column("risk_reasons", sa.String(200), nullable=False),
        sa.Column("review_reasons", sa.String(200), nullable=False),
        sa.Column("last_scan", sa.Date()),
        sa.Column("window_open", sa.Date()),
        sa.Column("window_close", sa.Date()),
        sa.Column("overdue_from", sa.Date()),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("recommended_modality", sa.String(40)),
        sa.Column("next_change", sa.Date()),
        sa.Column("context", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", name="pk_patient_state"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_patient_state_care_team_status_escalation_level_risk_tier", "patient_state",
                    ["care_team", "status", "escalation_level", "risk_tier"])
    op.create_table(
        "state_checks",
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("shards", "shard", name="pk_state_checks"),
    )


def downgrade() -> None:
    op.drop_table("state_checks")
    op.drop_index("ix_patient_state_care_team_status_escalation_level_risk_tier", table_name="patient_state")
    op.drop_table("patient_state")
