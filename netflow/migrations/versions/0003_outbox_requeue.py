"""The outbox remembers who put a failed message back: `netflow outbox retry` (requeued_at, requeued_by).

Two nullable columns on `outbox`; no data changes. NULL means the message was never requeued. The
last requeue is kept for good (a later attempt overwrites `last_error`, never these).

Revision ID: 0003
Revises: 0002
Create Date: 2026-07-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column: no table rewrite on SQLite or PostgreSQL.
    op.add_column("outbox", sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("requeued_by", sa.String(100), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): neither column has an index or a constraint.
    # Batch mode would copy `outbox` and drop the original, which the events' foreign key to it forbids.
    op.drop_column("outbox", "requeued_by")
    op.drop_column("outbox", "requeued_at")
