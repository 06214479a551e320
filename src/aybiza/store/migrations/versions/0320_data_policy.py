"""Each tenant's data policy: how many days call transcripts and call events are kept
(null: for good) and its compliance mode (``none``, ``hipaa``, ``pci``); webhook deliveries
name the call they are about and are found by age (erasure, retention); a call notes when its
transcript expired.

Revision ID: 0320
Revises: 0310
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0320"
down_revision: str | None = "0310"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("compliance_mode", sa.String(10), nullable=False, server_default="none")
        )
        batch.add_column(sa.Column("retention_transcripts_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retention_events_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retention_recordings_days", sa.Integer(), nullable=True))
    op.create_index(
        "ix_webhook_deliveries_tenant_created", "webhook_deliveries", ["tenant_id", "created_at"]
    )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("call_id", sa.String(32), nullable=True))
        batch.create_index("ix_webhook_deliveries_call", ["call_id"])
    with op.batch_alter_table("calls") as batch:
        batch.add_column(
            sa.Column("transcript_expired_at", sa.DateTime(timezone=True), nullable=True)
        )
    _name_the_calls_of_deliveries()


_CALL_EVENTS = ("call.started", "call.ended", "transcript.final", "recording.ready")


def _name_the_calls_of_deliveries() -> None:
    """Deliveries queued before this revision name their call in their body only (``id`` of
    a call report, ``call_id`` of a transcript line): copy it to the new column. A body that
    is not plain JSON (sealed at rest) is left as it is."""
    connection = op.get_bind()
    deliveries = sa.table(
        "webhook_deliveries",
        sa.column("id", sa.String),
        sa.column("event", sa.String),
        sa.column("body", sa.Text),
        sa.column("call_id", sa.String),
    )
    rows = connection.execute(
        sa.select(deliveries.c.id, deliveries.c.event, deliveries.c.body).where(
            deliveries.c.event.in_(_CALL_EVENTS)
        )
    ).all()
    for row in rows:
        try:
            data = json.loads(row.body)["data"]
        except (ValueError, TypeError, KeyError):
            continue
        call_id = data.get("id" if row.event in ("call.started", "call.ended") else "call_id")
        if isinstance(call_id, str) and len(call_id) <= 32:
            connection.execute(
                sa.update(deliveries).where(deliveries.c.id == row.id).values(call_id=call_id)
            )


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("transcript_expired_at")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_index("ix_webhook_deliveries_call")
        batch.drop_column("call_id")
    op.drop_index("ix_webhook_deliveries_tenant_created", "webhook_deliveries")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("retention_recordings_days")
        batch.drop_column("retention_events_days")
        batch.drop_column("retention_transcripts_days")
        batch.drop_column("compliance_mode")
