"""``/v1/audit-events``: the tenant's audit log, a page at a time and filtered, and the whole
log as JSON lines in chain order for a SIEM (each line carries ``seq``, ``prev_hash`` and
``hash``, so the receiver can check the chain itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from aybiza.api.auth import access, require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.security.permissions import Permission
from aybiza.services.audit import AuditFilter, AuditLog, event_document
from aybiza.services.tenants import Principal

router = APIRouter(prefix="/v1/audit-events", tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
Text = Annotated[str | None, Query(max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ActorOut(BaseModel):
    """Who acted: ``kind`` is ``user``, ``key``, ``operator``, ``cli`` or ``system``."""

    kind: str
    id: str | None
    name: str
    role: str | None
    address: str | None


class TargetOut(BaseModel):
    """What was acted on."""

    type: str
    id: str | None


class AuditEventOut(BaseModel):
    """One audit event: secrets in ``before``, ``after`` and ``details`` are masked."""

    id: str
    seq: int
    at: datetime
    tenant_id: str | None
    action: str
    target: TargetOut
    actor: ActorOut
    request: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    details: dict[str, Any] | None
    prev_hash: str
    hash: str


def _log(request: Request) -> AuditLog:
    log: AuditLog = access(request).audit
    return log


@router.get("", response_model=ListOf[AuditEventOut], responses=error_responses(400, 401, 403, 422))
async def list_events(
    request: Request,
    principal: Auditor,
    action: Annotated[
        str | None,
        Query(
            max_length=80,
            pattern=r"^[A-Za-z0-9_.:-]+$",
            description="An action (`agent.updated`), or a prefix ending in a dot (`agent.`).",
        ),
    ] = None,
    actor_id: Text = None,
    target_id: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> ListOf[AuditEventOut]:
    """The tenant's audit events, newest first, filtered."""
    where = AuditFilter(action, actor_id, target_id, since, until)
    page = await _log(request).list(principal.tenant_id, where, cursor=cursor, limit=limit)
    return listed(page, lambda row: AuditEventOut.model_validate(event_document(row)))


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "One event per line."},
        **error_responses(401, 403, 422),
    },
)
async def export_events(
    request: Request,
    principal: Auditor,
    after_seq: Annotated[int, Query(ge=0, description="Only events after this one.")] = 0,
) -> StreamingResponse:
    """Every event of the tenant after ``after_seq``, oldest first, as JSON lines (a SIEM
    polls with the last ``seq`` it has)."""
    lines: AsyncIterator[str] = _log(request).export(principal.tenant_id, after_seq=after_seq)
    return StreamingResponse(lines, media_type="application/x-ndjson")
