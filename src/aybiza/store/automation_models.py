"""Tables of the automation engine: tenants' tools, every tool call, workflows with their runs
and steps, and the post-call analysis stored on a call.

Created by the migration ``0100_automation``. Every row belongs to a tenant and every lookup is
scoped by ``tenant_id``; secrets (tool header values, signing secrets) are stored sealed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aybiza.store.models import Base, new_id, utcnow
from aybiza.store.sealing import SealedJSON, SealedText


class ToolDefinition(Base):
    """A tool a tenant's agents may call: an HTTP endpoint or a configured built-in.

    ``parameters`` is the JSON Schema of the arguments; ``options`` holds the non-secret
    settings (url, method, timeouts, retries, policy, precondition); header values are sealed
    together in ``headers_sealed`` and the HMAC signing secret in ``secret_sealed``."""

    __tablename__ = "tools"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_tools_tenant_created", "tenant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]]
    options: Mapped[dict[str, Any]]
    headers_sealed: Mapped[str | None] = mapped_column(Text)
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ToolCallRecord(Base):
    """One tool call during a call: arguments (secrets redacted), result, timing, outcome."""

    __tablename__ = "tool_calls"
    __table_args__ = (Index("ix_tool_calls_call_started", "call_id", "started_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"))
    tool_call_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    arguments: Mapped[dict[str, Any]] = mapped_column(SealedJSON("tool_calls", "arguments"))
    result: Mapped[dict[str, Any]] = mapped_column(SealedJSON("tool_calls", "result"))
    outcome: Mapped[str] = mapped_column(String(30))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class Workflow(Base):
    """A tenant's workflow definition: a trigger and ordered steps (see docs/automation.md).

    ``next_fire_at`` is when a schedule-triggered workflow fires next; processes claim a firing
    by moving it forward with a conditional update, so each firing happens once."""

    __tablename__ = "workflows"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_workflows_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_workflows_next_fire", "next_fire_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[dict[str, Any]]
    steps: Mapped[list[Any]] = mapped_column(JSON)
    secret_sealed: Mapped[str] = mapped_column(Text)
    next_fire_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowRun(Base):
    """One execution of a workflow, with a snapshot of its definition.

    ``position`` is the index of the next step to run; ``due_at`` when it may run (delays and
    retry backoff push it forward). A process owns a run while ``lease_until`` is in the future
    (``lease_owner``); ``claims`` counts how often it was taken. ``dedupe_key`` makes a trigger
    that fires twice (an event delivered again) create one run."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        Index("ix_workflow_runs_due", "status", "due_at"),
        Index("ix_workflow_runs_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_workflow_runs_call", "call_id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    workflow_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflows.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    definition: Mapped[dict[str, Any]]
    trigger_event: Mapped[str] = mapped_column(String(40))
    context: Mapped[dict[str, Any]] = mapped_column(SealedJSON("workflow_runs", "context"))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    call_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    position: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None]
    claims: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class WorkflowStep(Base):
    """One step of a run: attempts, what it sent (redacted), its output, timing and outcome.

    A step whose ``status`` is ``completed`` is never run again; one interrupted mid-attempt is
    attempted again with the same ``idempotency_key``."""

    __tablename__ = "workflow_steps"
    __table_args__ = (UniqueConstraint("run_id", "step_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="running")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(120))
    request: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("workflow_steps", "request"), default=dict
    )
    output: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("workflow_steps", "output"), default=dict
    )
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)


class CallAnalysis(Base):
    """What the post-call workflow extracted from a call's transcript, and how (``method``:
    ``model:<engine>/<model>`` or ``embedded-rules``)."""

    __tablename__ = "call_analysis"
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    method: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(SealedText("call_analysis", "summary"), default="")
    sentiment: Mapped[str | None] = mapped_column(String(20))
    success: Mapped[bool | None] = mapped_column(Boolean)
    success_reason: Mapped[str | None] = mapped_column(
        SealedText("call_analysis", "success_reason")
    )
    fields: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("call_analysis", "fields"), default=dict
    )
    run_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
