"""Calls say which carrier brought them (``twilio``, ``sip``, ``browser``).

Revision ID: 0200
Revises: 0100
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0200"
down_revision: str | None = "0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(
            sa.Column("carrier", sa.String(20), nullable=False, server_default="twilio")
        )


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("carrier")
