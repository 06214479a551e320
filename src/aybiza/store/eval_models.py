"""Tables of agent evals: the eval suite each agent keeps, and the eval runs recorded against
its versions (the publish gate reads them: docs/evals.md).

Created by the migration ``0240_evals``. Rows belong to a tenant and every lookup is scoped by
``tenant_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aybiza.store.models import Base, new_id, utcnow

# ``sha256:`` and 64 hex digits.
DIGEST_CHARS = 71


class AgentEvalSuite(Base):
    """An agent's eval suite (one per agent, for all its versions) and whether publishing a
    version requires a passing run of it. ``digest`` names the suite's content."""

    __tablename__ = "agent_eval_suites"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    suite: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(DIGEST_CHARS))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvalRun(Base):
    """One recorded run of a suite against one agent version: every scenario's status, its
    call and its failed checks. ``passed``: every scenario of the suite passed."""

    __tablename__ = "eval_runs"
    __table_args__ = (
        Index("ix_eval_runs_agent_version", "agent_id", "agent_version", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    agent_version: Mapped[str] = mapped_column(String(64))
    suite_digest: Mapped[str] = mapped_column(String(DIGEST_CHARS))
    passed: Mapped[bool] = mapped_column(Boolean)
    scenarios_passed: Mapped[int] = mapped_column(Integer)
    scenarios_failed: Mapped[int] = mapped_column(Integer)
    scenarios_skipped: Mapped[int] = mapped_column(Integer)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    engines: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
