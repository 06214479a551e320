"""Platform schema: tenants, API keys, versioned agents, phone numbers, calls with turns and
transcript, webhook endpoints and deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True)


def _tenant(nullable: bool = False) -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.id"), nullable=nullable)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    # Timestamps are stored in UTC; SQLite keeps them as text without an offset.
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "tenants",
        _id(),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("max_concurrent_calls", sa.Integer(), nullable=False),
        _at("created_at"),
    )
    op.create_table(
        "api_keys",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(24), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("revoked_at", nullable=True),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "agents",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("published_version_id", sa.String(32), nullable=True),
        sa.Column("published_version", sa.String(64), nullable=True),
        sa.Column("latest_version", sa.String(64), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _at("deleted_at", nullable=True),
    )
    op.create_index("ix_agents_tenant_created", "agents", ["tenant_id", "created_at", "id"])
    op.create_table(
        "agent_versions",
        _id(),
        _tenant(),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        _at("created_at"),
        sa.UniqueConstraint("agent_id", "version"),
    )
    op.create_index("ix_agent_versions_agent_id", "agent_versions", ["agent_id"])
    op.create_table(
        "phone_numbers",
        _id(),
        _tenant(),
        sa.Column("e164", sa.String(16), nullable=False, unique=True),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("agent_version", sa.String(64), nullable=True),
        sa.Column("version_weights", sa.JSON(), nullable=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("fallback_region", sa.String(64), nullable=True),
        sa.Column("fallback_number", sa.String(200), nullable=True),
        sa.Column("sip", sa.JSON(), nullable=True),
        sa.Column("sip_password_sealed", sa.Text(), nullable=True),
        sa.Column("provisioning", sa.String(20), nullable=False),
        sa.Column("provider_data", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
    )
    op.create_index("ix_phone_numbers_agent_id", "phone_numbers", ["agent_id"])
    op.create_index(
        "ix_phone_numbers_tenant_created", "phone_numbers", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "calls",
        _id(),
        _tenant(nullable=True),
        sa.Column("call_sid", sa.String(64), nullable=False, unique=True),
        sa.Column("stream_sid", sa.String(64), nullable=True),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("agent_version", sa.String(64), nullable=True),
        sa.Column(
            "agent_version_id", sa.String(32), sa.ForeignKey("agent_versions.id"), nullable=True
        ),
        sa.Column(
            "phone_number_id",
            sa.String(32),
            sa.ForeignKey("phone_numbers.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("from_number", sa.String(64), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ended_reason", sa.String(60), nullable=True),
        sa.Column("engines", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("transfer_to", sa.String(200), nullable=True),
        _at("hangup_requested_at", nullable=True),
        _at("created_at"),
        _at("started_at", nullable=True),
        _at("ended_at", nullable=True),
    )
    op.create_index("ix_calls_tenant_created", "calls", ["tenant_id", "created_at", "id"])
    op.create_index("ix_calls_tenant_status", "calls", ["tenant_id", "status"])
    op.create_table(
        "turns",
        _id(),
        _tenant(),
        sa.Column("call_id", sa.String(32), sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("user_text", sa.Text(), nullable=False),
        sa.Column("agent_text", sa.Text(), nullable=False),
        sa.Column("heard_text", sa.Text(), nullable=False),
        sa.Column("interrupted", sa.Boolean(), nullable=False),
        sa.Column("model", sa.String(120), nullable=True),
        sa.Column("timings_ms", sa.JSON(), nullable=False),
        sa.Column("usage", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        _at("created_at"),
        sa.UniqueConstraint("call_id", "index"),
    )
    op.create_index("ix_turns_call_id", "turns", ["call_id"])
    op.create_table(
        "transcript_lines",
        _id(),
        _tenant(),
        sa.Column("call_id", sa.String(32), sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _at("at"),
    )
    op.create_index("ix_transcript_lines_call_id", "transcript_lines", ["call_id"])
    op.create_table(
        "webhook_endpoints",
        _id(),
        _tenant(),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("previous_secret_sealed", sa.Text(), nullable=True),
        _at("previous_secret_expires_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
    )
    op.create_index(
        "ix_webhook_endpoints_tenant_created",
        "webhook_endpoints",
        ["tenant_id", "created_at", "id"],
    )
    op.create_table(
        "webhook_deliveries",
        _id(),
        _tenant(),
        sa.Column(
            "endpoint_id",
            sa.String(32),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("next_attempt_at"),
        _at("locked_until", nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("created_at"),
        _at("delivered_at", nullable=True),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_created",
        "webhook_deliveries",
        ["endpoint_id", "created_at", "id"],
    )


def downgrade() -> None:
    """Drop every table, dependents first."""
    for table in (
        "webhook_deliveries",
        "webhook_endpoints",
        "transcript_lines",
        "turns",
        "calls",
        "phone_numbers",
        "agent_versions",
        "agents",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)
