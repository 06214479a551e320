"""Automation: tenants' tools, tool calls, workflows with runs and steps, post-call analysis.

Revision ID: 0100
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0100"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.id"), nullable=False)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the automation tables."""
    op.create_table(
        "tools",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("headers_sealed", sa.Text(), nullable=True),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    op.create_index("ix_tools_tenant_created", "tools", ["tenant_id", "created_at", "id"])
    op.create_table(
        "tool_calls",
        _id(),
        _tenant(),
        sa.Column("call_id", sa.String(32), sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("tool_call_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("started_at"),
        _at("finished_at"),
        sa.Column("duration_ms", sa.Float(), nullable=False),
    )
    op.create_index("ix_tool_calls_call_started", "tool_calls", ["call_id", "started_at"])
    op.create_table(
        "workflows",
        _id(),
        _tenant(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        _at("next_fire_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    op.create_index("ix_workflows_tenant_created", "workflows", ["tenant_id", "created_at", "id"])
    op.create_index("ix_workflows_next_fire", "workflows", ["next_fire_at"])
    op.create_table(
        "workflow_runs",
        _id(),
        _tenant(),
        sa.Column(
            "workflow_id",
            sa.String(32),
            sa.ForeignKey("workflows.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("trigger_event", sa.String(40), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("call_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _at("due_at"),
        sa.Column("lease_owner", sa.String(120), nullable=True),
        _at("lease_until", nullable=True),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("finished_at", nullable=True),
    )
    op.create_index("ix_workflow_runs_due", "workflow_runs", ["status", "due_at"])
    op.create_index(
        "ix_workflow_runs_tenant_created", "workflow_runs", ["tenant_id", "created_at", "id"]
    )
    op.create_index("ix_workflow_runs_call", "workflow_runs", ["call_id"])
    op.create_index("ix_workflow_runs_workflow_id", "workflow_runs", ["workflow_id"])
    op.create_table(
        "workflow_steps",
        _id(),
        _tenant(),
        sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("workflow_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _at("started_at"),
        _at("finished_at", nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.UniqueConstraint("run_id", "step_id"),
    )
    op.create_table(
        "call_analysis",
        sa.Column("call_id", sa.String(32), sa.ForeignKey("calls.id"), primary_key=True),
        _tenant(),
        sa.Column("method", sa.String(120), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("sentiment", sa.String(20), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("success_reason", sa.Text(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        _at("created_at"),
        _at("updated_at"),
    )


def downgrade() -> None:
    """Drop the automation tables, dependents first."""
    for table in (
        "call_analysis",
        "workflow_steps",
        "workflow_runs",
        "workflows",
        "tool_calls",
        "tools",
    ):
        op.drop_table(table)
