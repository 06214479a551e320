"""Tenants' workflow definitions (create, list, change, delete, rotate the signing secret) and
the creation of runs, each once per trigger (``dedupe_key``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.errors import FieldError
from aybiza.automation.redaction import REDACTED
from aybiza.automation.workflows.spec import (
    HttpStep,
    Step,
    TriggerSpec,
    WorkflowCreate,
    WorkflowUpdate,
    workflow_problems,
)
from aybiza.errors import Conflict, Invalid, NotFound
from aybiza.outbound.guard import Guard
from aybiza.security.secretbox import SecretBox
from aybiza.security.signing import new_webhook_secret
from aybiza.store.automation_models import Workflow, WorkflowRun, WorkflowStep
from aybiza.store.database import Database
from aybiza.store.models import Agent, new_id, utcnow
from aybiza.store.paging import Page
from aybiza.store.queries import is_row_id
from aybiza.store.sealing_hooks import sealed_values
from aybiza.store.tenant_repository import TenantRepository


@dataclass(frozen=True, slots=True)
class WorkflowWithSecret:
    """A workflow and its signing secret, in clear this once (create and rotate)."""

    workflow: Workflow
    secret: str


def stored_steps(
    steps: Sequence[Step], box: SecretBox, previous: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Steps as stored: header values sealed (``headers_sealed``); an http step given without
    headers keeps those of the previous step with its id."""
    kept = {step.get("id"): step.get("headers_sealed") for step in previous}
    stored: list[dict[str, Any]] = []
    for step in steps:
        data = step.model_dump(mode="json", by_alias=True)
        if isinstance(step, HttpStep):
            data.pop("headers", None)
            if step.headers:
                data["headers_sealed"] = box.seal(json.dumps(step.headers))
            elif kept.get(step.id):
                data["headers_sealed"] = kept[step.id]
        stored.append(data)
    return stored


def public_steps(steps: Sequence[dict[str, Any]], box: SecretBox) -> list[dict[str, Any]]:
    """Steps as the API shows them: header names with their values hidden."""
    shown: list[dict[str, Any]] = []
    for step in steps:
        data = {key: value for key, value in step.items() if key != "headers_sealed"}
        sealed = step.get("headers_sealed")
        if isinstance(sealed, str):
            data["headers"] = {name: REDACTED for name in json.loads(box.open(sealed))}
        shown.append(data)
    return shown


def first_fire(trigger: TriggerSpec, now: datetime) -> datetime | None:
    """When a schedule fires first (one interval from now); None for event triggers."""
    if trigger.event != "schedule" or trigger.every_s is None:
        return None
    return now + timedelta(seconds=trigger.every_s)


class WorkflowService:
    """Business rules for workflow definitions of one tenant at a time."""

    def __init__(self, database: Database, box: SecretBox, guard: Guard | None = None) -> None:
        self._database = database
        self._box = box
        # Only public targets may be configured unless the operator's allow-list says more.
        self._guard = guard if guard is not None else Guard()
        self._workflows = TenantRepository(
            database,
            Workflow,
            lambda ref: NotFound(f"no workflow {ref}", field="workflow_id"),
        )
        self._runs = TenantRepository(
            database, WorkflowRun, lambda ref: NotFound(f"no workflow run {ref}", field="run_id")
        )

    async def create(self, tenant_id: str, spec: WorkflowCreate) -> WorkflowWithSecret:
        """Store a new workflow with a fresh signing secret; 409 when the name is taken."""
        problems = workflow_problems(spec.trigger, spec.steps, self._guard)
        if problems:
            raise Invalid(problems, code="invalid_workflow")
        secret = new_webhook_secret()
        now = utcnow()
        row = Workflow(
            tenant_id=tenant_id,
            name=spec.name,
            description=spec.description,
            enabled=spec.enabled,
            trigger=spec.trigger.model_dump(mode="json", exclude_none=True),
            steps=stored_steps(spec.steps, self._box),
            secret_sealed=self._box.seal(secret),
            next_fire_at=first_fire(spec.trigger, now),
            created_at=now,
            updated_at=now,
        )
        taken = Conflict(f"a workflow named {spec.name!r} already exists", field="name")
        async with self._database.session() as session:
            await _check_trigger_agents(session, tenant_id, spec.trigger)
        await self._workflows.insert_unique(tenant_id, row, Workflow.name == spec.name, taken=taken)
        return WorkflowWithSecret(row, secret)

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[Workflow]:
        """The tenant's workflows, newest first."""
        return await self._workflows.list(tenant_id, cursor=cursor, limit=limit)

    async def get(self, tenant_id: str, workflow_id: str) -> Workflow:
        """One workflow of the tenant; NotFound otherwise."""
        return await self._workflows.fetch(tenant_id, workflow_id)

    async def update(self, tenant_id: str, workflow_id: str, change: WorkflowUpdate) -> Workflow:
        """Apply the fields given (runs already started keep the definition they began with)."""
        async with self._database.writing() as session:
            row = await self._workflows.get(session, tenant_id, workflow_id)
            trigger = change.trigger or TriggerSpec.model_validate(row.trigger)
            steps = change.steps
            if steps is not None:
                problems = workflow_problems(trigger, steps, self._guard)
            else:
                current = WorkflowCreate.model_validate(
                    {"name": row.name, "trigger": row.trigger, "steps": row.steps}
                ).steps
                problems = workflow_problems(trigger, current, self._guard, stored=True)
            if problems:
                raise Invalid(problems, code="invalid_workflow")
            if change.trigger is not None:
                await _check_trigger_agents(session, tenant_id, change.trigger)
            now = utcnow()
            if change.trigger is not None:
                row.trigger = trigger.model_dump(mode="json", exclude_none=True)
                row.next_fire_at = first_fire(trigger, now)
            if steps is not None:
                row.steps = stored_steps(steps, self._box, row.steps)
            if change.description is not None:
                row.description = change.description
            if change.enabled is not None:
                row.enabled = change.enabled
            row.updated_at = now
            return row

    async def delete(self, tenant_id: str, workflow_id: str) -> None:
        """Remove a workflow; its past runs stay (without the link)."""
        await self._workflows.delete(tenant_id, workflow_id)

    async def rotate_secret(self, tenant_id: str, workflow_id: str) -> WorkflowWithSecret:
        """A new signing secret for runs started from now on; returned this once."""
        secret = new_webhook_secret()
        row = await self._workflows.update(
            tenant_id, workflow_id, secret_sealed=self._box.seal(secret), updated_at=utcnow()
        )
        return WorkflowWithSecret(row, secret)

    async def runs(
        self, tenant_id: str, workflow_id: str, *, cursor: str | None, limit: int
    ) -> Page[WorkflowRun]:
        """The workflow's runs, newest first."""
        async with self._database.session() as session:
            await self._workflows.get(session, tenant_id, workflow_id)
            return await self._runs.page(
                session,
                tenant_id,
                WorkflowRun.workflow_id == workflow_id,
                cursor=cursor,
                limit=limit,
            )

    async def run(self, tenant_id: str, run_id: str) -> tuple[WorkflowRun, Sequence[WorkflowStep]]:
        """One run of the tenant with its steps in order; NotFound otherwise."""
        async with self._database.session() as session:
            run = await self._runs.get(session, tenant_id, run_id)
            steps = await session.execute(
                select(WorkflowStep)
                .where(WorkflowStep.run_id == run_id)
                .order_by(WorkflowStep.position)
            )
            return run, list(steps.scalars())


async def _owned(session: AsyncSession, tenant_id: str, workflow_id: str) -> Workflow:
    row = await session.get(Workflow, workflow_id) if is_row_id(workflow_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no workflow {workflow_id}", field="workflow_id")
    return row


async def _check_trigger_agents(
    session: AsyncSession, tenant_id: str, trigger: TriggerSpec
) -> None:
    """Every agent the trigger names is one of the tenant's (not deleted): a trigger naming
    another tenant's agent, or none, would silently never fire."""
    named = trigger.agent_ids or []
    ids = [agent_id for agent_id in named if is_row_id(agent_id)]
    found: set[str] = set()
    if ids:
        rows = await session.execute(
            select(Agent.id).where(
                Agent.tenant_id == tenant_id, Agent.id.in_(ids), Agent.deleted_at.is_(None)
            )
        )
        found = set(rows.scalars())
    problems = [
        FieldError(f"trigger.agent_ids.{index}", "names no agent of this tenant", agent_id)
        for index, agent_id in enumerate(named)
        if agent_id not in found
    ]
    if problems:
        raise Invalid(problems, code="invalid_workflow")


def snapshot(row: Workflow) -> dict[str, Any]:
    """The definition a run keeps, so later edits do not change a run in flight."""
    return {
        "name": row.name,
        "trigger": row.trigger,
        "steps": row.steps,
        "secret_sealed": row.secret_sealed,
    }


async def create_run(
    session: AsyncSession,
    *,
    tenant_id: str,
    workflow_id: str | None,
    name: str,
    definition: dict[str, Any],
    trigger_event: str,
    context: dict[str, Any],
    dedupe_key: str,
    call_id: str | None = None,
) -> str | None:
    """Insert a pending run due now; None when a run with ``dedupe_key`` already exists."""
    now = utcnow()
    values = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "workflow_id": workflow_id,
        "name": name[:100],
        "definition": definition,
        "trigger_event": trigger_event,
        "context": context,
        "dedupe_key": dedupe_key[:200],
        "call_id": call_id,
        "status": "pending",
        "position": 0,
        "due_at": now,
        "claims": 0,
        "created_at": now,
        "updated_at": now,
    }
    bind = session.bind
    dialect = bind.dialect.name if bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # A Core insert: the run's context (the call's numbers, its transcript) is marked for
    # sealing here, the ORM's flush hook does not see it.
    values = await sealed_values(session, WorkflowRun, tenant_id, values)
    statement = (
        insert(WorkflowRun).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result = await session.execute(statement)
    return str(values["id"]) if result.rowcount else None  # type: ignore[attr-defined]
