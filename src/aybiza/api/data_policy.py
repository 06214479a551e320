"""``/v1/tenant/retention``, ``/v1/tenant/compliance``, ``/v1/tenant/export`` and
``DELETE /v1/callers/{number}``: how long the tenant keeps call data, its compliance mode,
all of its data as JSON lines, and erasing one caller (docs/security.md, "Retention and
erasure", "Compliance modes")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from aybiza.agents.compliance import ComplianceMode
from aybiza.api.auth import access, require
from aybiza.api.errors import error_responses
from aybiza.security.permissions import Permission
from aybiza.services.caller_erasure import CallerErasure
from aybiza.services.data_policy import MAX_DAYS, MIN_DAYS, DataPolicies, DataPolicy
from aybiza.services.tenant_export import TenantExport
from aybiza.services.tenants import Principal

router = APIRouter(prefix="/v1", tags=["data policy"])

Reader = Annotated[Principal, Depends(require(Permission.PEOPLE_READ))]
Owner = Annotated[Principal, Depends(require(Permission.TENANT_WRITE))]
Eraser = Annotated[Principal, Depends(require(Permission.CALLERS_ERASE))]
Days = Annotated[int | None, Field(ge=MIN_DAYS, le=MAX_DAYS)]
E164 = r"^\+[1-9][0-9]{6,14}$"


class Retention(BaseModel):
    """Days call data is kept after the call (null: for good). ``transcripts_days``: the
    transcript, turn texts, tool arguments and results, the post-call analysis (the call's
    record, costs and latency stay). ``events_days``: webhook deliveries and workflow runs.
    ``recordings_days``: the calls' stored recordings."""

    model_config = ConfigDict(extra="forbid")
    transcripts_days: Days = Field(default=None, examples=[30])
    events_days: Days = Field(default=None, examples=[90])
    recordings_days: Days = Field(default=None, examples=[7])


class Compliance(BaseModel):
    """``hipaa``: all personal data redacted, Bedrock only; ``pci``: keyed-in digits masked,
    cards redacted; ``none``."""

    model_config = ConfigDict(extra="forbid")
    compliance_mode: ComplianceMode


class ErasureOut(BaseModel):
    """What was erased: rows per kind, and the audit event recording it (which names the
    caller only by ``caller_digest``, a keyed hash)."""

    caller_digest: str
    erased: dict[str, int]
    audit_event_id: str


def _policies(request: Request) -> DataPolicies:
    policies: DataPolicies = request.app.state.data_policies
    return policies


def _retention(policy: DataPolicy) -> Retention:
    return Retention(
        transcripts_days=policy.transcripts_days,
        events_days=policy.events_days,
        recordings_days=policy.recordings_days,
    )


@router.get("/tenant/retention", response_model=Retention, responses=error_responses(401, 403))
async def get_retention(request: Request, principal: Reader) -> Retention:
    """How long the tenant keeps call data."""
    return _retention(await _policies(request).get(principal.tenant_id))


@router.put("/tenant/retention", response_model=Retention, responses=error_responses(401, 403, 422))
async def set_retention(body: Retention, request: Request, principal: Owner) -> Retention:
    """The owner sets how long call data is kept; the hourly sweep deletes what is older."""
    policy = await _policies(request).set_retention(
        principal.tenant_id,
        transcripts_days=body.transcripts_days,
        events_days=body.events_days,
        recordings_days=body.recordings_days,
    )
    return _retention(policy)


@router.get("/tenant/compliance", response_model=Compliance, responses=error_responses(401, 403))
async def get_compliance(request: Request, principal: Reader) -> Compliance:
    """The tenant's compliance mode."""
    policy = await _policies(request).get(principal.tenant_id)
    return Compliance.model_validate({"compliance_mode": policy.compliance_mode})


@router.put(
    "/tenant/compliance", response_model=Compliance, responses=error_responses(401, 403, 422)
)
async def set_compliance(body: Compliance, request: Request, principal: Owner) -> Compliance:
    """The owner puts the tenant under a compliance mode; calls starting from now follow it."""
    policy = await _policies(request).set_compliance_mode(principal.tenant_id, body.compliance_mode)
    return Compliance.model_validate({"compliance_mode": policy.compliance_mode})


@router.get(
    "/tenant/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "One object per line."},
        **error_responses(401, 403),
    },
)
async def export_tenant(request: Request, principal: Owner) -> StreamingResponse:
    """Everything the tenant owns as JSON lines (``{"type": ..., "data": ...}``): agents and
    versions, numbers, tools, workflows, webhooks, calls with turns, transcripts, tool calls
    and analysis, workflow runs, then the audit log. The owner's; recorded in the audit log."""
    await access(request).audit.record(
        "tenant.exported", tenant_id=principal.tenant_id, target_type="tenant"
    )
    export: TenantExport = request.app.state.tenant_export
    lines: AsyncIterator[str] = export.lines(principal.tenant_id)
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.delete(
    "/callers/{number}",
    response_model=ErasureOut,
    responses=error_responses(401, 403, 409, 422),
)
async def erase_caller(
    request: Request,
    principal: Eraser,
    number: Annotated[str, Path(pattern=E164, description="The caller's number, E.164.")],
) -> ErasureOut:
    """Erase everything stored about one caller (a GDPR erasure request): their calls with
    transcripts, turns, tool calls, analysis, workflow runs and webhook deliveries. 409
    ``call_live`` while a call with them is in progress. Recorded in the audit log by a keyed
    digest of the number, never the number."""
    erasure: CallerErasure = request.app.state.caller_erasure
    done = await erasure.erase(principal.tenant_id, number)
    return ErasureOut(
        caller_digest=done.caller_digest, erased=done.erased, audit_event_id=done.audit_event_id
    )
