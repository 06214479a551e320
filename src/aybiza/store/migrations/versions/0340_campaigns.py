"""Outbound campaigns: campaigns, their contacts, each dialling attempt (unique per contact and
attempt number) and the tenant's do-not-call list.

Revision ID: 0340
Revises: 0330
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0340"
down_revision: str | None = "0330"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.id"), nullable=False)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the campaign tables."""
    op.create_table(
        "campaigns",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column(
            "phone_number_id", sa.String(32), sa.ForeignKey("phone_numbers.id"), nullable=False
        ),
        sa.Column("agent_id", sa.String(32), nullable=True),
        sa.Column("agent_version", sa.String(64), nullable=True),
        sa.Column("calls_per_minute", sa.Float(), nullable=False),
        sa.Column("max_concurrent_calls", sa.Integer(), nullable=False),
        sa.Column("calling_window", sa.JSON(), nullable=False),
        sa.Column("retry", sa.JSON(), nullable=False),
        _at("next_dial_at"),
        sa.Column("lease_owner", sa.String(120), nullable=True),
        _at("lease_until", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("finished_at", nullable=True),
    )
    op.create_index("ix_campaigns_tenant_created", "campaigns", ["tenant_id", "created_at"])
    op.create_table(
        "campaign_contacts",
        _id(),
        sa.Column("campaign_id", sa.String(32), sa.ForeignKey("campaigns.id"), nullable=False),
        _tenant(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("time_zones", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("due_at"),
        sa.Column("last_call_id", sa.String(32), nullable=True),
        _at("updated_at"),
        sa.UniqueConstraint("campaign_id", "position", name="uq_campaign_contacts_position"),
    )
    op.create_index(
        "ix_campaign_contacts_due", "campaign_contacts", ["campaign_id", "status", "due_at"]
    )
    op.create_table(
        "campaign_attempts",
        _id(),
        sa.Column("campaign_id", sa.String(32), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column(
            "contact_id", sa.String(32), sa.ForeignKey("campaign_contacts.id"), nullable=False
        ),
        _tenant(),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        _at("claimed_at"),
        _at("ended_at", nullable=True),
        sa.UniqueConstraint("contact_id", "attempt", name="uq_campaign_attempts_contact_attempt"),
    )
    op.create_index("ix_campaign_attempts_open", "campaign_attempts", ["campaign_id", "status"])
    op.create_table(
        "do_not_call",
        _id(),
        _tenant(),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        _at("created_at"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_do_not_call_number"),
    )


def downgrade() -> None:
    """Drop the campaign tables."""
    op.drop_table("do_not_call")
    op.drop_index("ix_campaign_attempts_open", table_name="campaign_attempts")
    op.drop_table("campaign_attempts")
    op.drop_index("ix_campaign_contacts_due", table_name="campaign_contacts")
    op.drop_table("campaign_contacts")
    op.drop_index("ix_campaigns_tenant_created", table_name="campaigns")
    op.drop_table("campaigns")
