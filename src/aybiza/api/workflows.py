"""``/v1/workflows``: the tenant's workflows (trigger + steps), their runs and each run's steps.
Reading needs ``agents:read``, changing ``agents:write``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AliasChoices, BaseModel, Field

from aybiza.api.auth import require
from aybiza.api.common import ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.api.tenant_routes import TenantRoutes
from aybiza.automation.platform import Automation
from aybiza.automation.workflows.spec import WorkflowCreate, WorkflowUpdate
from aybiza.automation.workflows.store import WorkflowService, WorkflowWithSecret, public_steps
from aybiza.security.permissions import Permission
from aybiza.services.tenants import Principal
from aybiza.store.automation_models import Workflow, WorkflowRun, WorkflowStep

router = APIRouter(prefix="/v1/workflows", tags=["workflows"])

Reader = Annotated[Principal, Depends(require(Permission.AGENTS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.AGENTS_WRITE))]


class WorkflowOut(BaseModel):
    """A workflow (header values and the signing secret are never shown here)."""

    id: str
    name: str
    description: str
    enabled: bool
    trigger: dict[str, Any]
    steps: list[dict[str, Any]]
    next_fire_at: datetime | None = Field(description="Schedules: when it fires next.")
    created_at: datetime
    updated_at: datetime


class WorkflowWithSecretOut(WorkflowOut):
    """A workflow with its signing secret, shown this once."""

    secret: str = Field(description="HMAC-SHA256 key of AYBIZA-Signature; shown once.")


class StepOut(BaseModel):
    """One step of a run: attempts, what it sent (secrets redacted), output, outcome."""

    step_id: str
    type: str
    status: str = Field(description="running, retrying, waiting, completed or failed.")
    attempts: int
    idempotency_key: str
    request: dict[str, Any]
    output: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None


class RunOut(BaseModel):
    """One run of a workflow."""

    id: str
    workflow_id: str | None
    name: str
    # Read from the run's ``trigger_event`` column.
    trigger: str = Field(validation_alias=AliasChoices("trigger_event", "trigger"))
    status: str = Field(description="pending, running, completed or failed.")
    call_id: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class RunDetailOut(RunOut):
    """A run with its steps."""

    steps: list[StepOut]


def _automation(request: Request) -> Automation:
    automation: Automation = request.app.state.automation
    return automation


def _service(request: Request) -> WorkflowService:
    return _automation(request).workflows


routes = TenantRoutes(
    router, "workflow_id", _service, read=Permission.AGENTS_READ, write=Permission.AGENTS_WRITE
)


def _out(request: Request, row: Workflow) -> WorkflowOut:
    return WorkflowOut(
        id=row.id,
        name=row.name,
        description=row.description,
        enabled=row.enabled,
        trigger=row.trigger,
        steps=public_steps(row.steps, _automation(request).box),
        next_fire_at=row.next_fire_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _with_secret(request: Request, made: WorkflowWithSecret) -> WorkflowWithSecretOut:
    return WorkflowWithSecretOut(**_out(request, made.workflow).model_dump(), secret=made.secret)


def _run(row: WorkflowRun) -> RunOut:
    return RunOut.model_validate(row, from_attributes=True)


def _step(row: WorkflowStep) -> StepOut:
    return StepOut.model_validate(row, from_attributes=True)


def _detail(run: WorkflowRun, steps: Sequence[WorkflowStep]) -> RunDetailOut:
    return RunDetailOut(**_run(run).model_dump(), steps=[_step(step) for step in steps])


@router.post(
    "",
    status_code=201,
    response_model=WorkflowWithSecretOut,
    responses=error_responses(401, 403, 409, 422),
    summary="Create a workflow (the response holds its signing secret, shown once)",
)
async def create_workflow(
    body: WorkflowCreate, request: Request, principal: Writer
) -> WorkflowWithSecretOut:
    """Define a workflow: a trigger and its steps."""
    return _with_secret(request, await _service(request).create(principal.tenant_id, body))


routes.list("list_workflows", WorkflowOut, _out, "The tenant's workflows, newest first.")


@router.get("/runs/{run_id}", response_model=RunDetailOut, responses=error_responses(401, 403, 404))
async def get_run(run_id: str, request: Request, principal: Reader) -> RunDetailOut:
    """One run with every step's attempts, request (redacted), output and outcome."""
    run, steps = await _service(request).run(principal.tenant_id, run_id)
    return _detail(run, steps)


routes.get("get_workflow", WorkflowOut, _out, "One workflow.")


@router.patch(
    "/{workflow_id}", response_model=WorkflowOut, responses=error_responses(401, 403, 404, 422)
)
async def update_workflow(
    workflow_id: str, body: WorkflowUpdate, request: Request, principal: Writer
) -> WorkflowOut:
    """Change a workflow; runs already started keep the definition they began with."""
    row = await _service(request).update(principal.tenant_id, workflow_id, body)
    return _out(request, row)


routes.delete("delete_workflow", "Delete a workflow (its past runs stay visible).")


@router.post(
    "/{workflow_id}/rotate-secret",
    response_model=WorkflowWithSecretOut,
    responses=error_responses(401, 403, 404),
)
async def rotate_workflow_secret(
    workflow_id: str, request: Request, principal: Writer
) -> WorkflowWithSecretOut:
    """A new signing secret for runs started from now on; shown this once."""
    made = await _service(request).rotate_secret(principal.tenant_id, workflow_id)
    return _with_secret(request, made)


async def _runs(
    request: Request, tenant_id: str, workflow_id: str, cursor: str | None, limit: int
) -> ListOf[RunOut]:
    return listed(
        await _service(request).runs(tenant_id, workflow_id, cursor=cursor, limit=limit), _run
    )


routes.children("list_runs", "/runs", RunOut, _runs, "The workflow's runs, newest first.")
