"""Live calls are leased by the server process that runs their loop (``worker_id``,
``lease_until``): a call whose process died is found once its lease runs out.

Revision ID: 0210
Revises: 0200
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0210"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_calls_status_lease", ["status", "lease_until"])


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_status_lease")
        batch.drop_column("lease_until")
        batch.drop_column("worker_id")
