"""Agent evals: each agent's eval suite (and whether publishing requires it to pass) and the
eval runs recorded against agent versions.

Revision ID: 0240
Revises: 0300
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0240"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.id"), nullable=False)


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create the eval tables."""
    op.create_table(
        "agent_eval_suites",
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), primary_key=True),
        _tenant(),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("suite", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(71), nullable=False),
        _at("created_at"),
        _at("updated_at"),
    )
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        _tenant(),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("agent_version", sa.String(64), nullable=False),
        sa.Column("suite_digest", sa.String(71), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("scenarios_passed", sa.Integer(), nullable=False),
        sa.Column("scenarios_failed", sa.Integer(), nullable=False),
        sa.Column("scenarios_skipped", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("engines", sa.JSON(), nullable=False),
        _at("created_at"),
    )
    op.create_index(
        "ix_eval_runs_agent_version", "eval_runs", ["agent_id", "agent_version", "created_at"]
    )


def downgrade() -> None:
    """Drop the eval tables."""
    op.drop_index("ix_eval_runs_agent_version", table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_table("agent_eval_suites")
