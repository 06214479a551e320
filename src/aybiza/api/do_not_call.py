"""``/v1/do-not-call``: numbers the tenant's campaigns never dial."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aybiza.api.auth import access, require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.security.permissions import Permission
from aybiza.services.do_not_call import DoNotCallList
from aybiza.services.number_specs import E164
from aybiza.services.tenants import Principal
from aybiza.store.campaign_models import DoNotCall

router = APIRouter(prefix="/v1/do-not-call", tags=["campaigns"])
Reader = Annotated[Principal, Depends(require(Permission.CAMPAIGNS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.CAMPAIGNS_WRITE))]


class DoNotCallIn(BaseModel):
    """A number never to dial."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: E164
    reason: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Why (shown in the list)."
    )


class DoNotCallOut(BaseModel):
    """A number on the list."""

    number: str
    reason: str | None
    created_at: datetime


def _list(request: Request) -> DoNotCallList:
    service: DoNotCallList = request.app.state.do_not_call
    return service


def _out(row: DoNotCall) -> DoNotCallOut:
    return DoNotCallOut(number=row.number, reason=row.reason, created_at=row.created_at)


@router.post(
    "", status_code=201, response_model=DoNotCallOut, responses=error_responses(401, 403, 409, 422)
)
async def add_number(body: DoNotCallIn, request: Request, principal: Writer) -> DoNotCallOut:
    """Put a number on the list: no campaign of the tenant dials it from now on."""
    row = await _list(request).add(principal.tenant_id, body.number, body.reason)
    await access(request).audit.record(
        "do_not_call.added", tenant_id=principal.tenant_id, target_type="number", target_id=row.id
    )
    return _out(row)


@router.get("", response_model=ListOf[DoNotCallOut], responses=error_responses(400, 401, 403))
async def list_numbers(
    request: Request, principal: Reader, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> ListOf[DoNotCallOut]:
    """The list, newest first."""
    page = await _list(request).page(principal.tenant_id, cursor=cursor, limit=limit)
    return listed(page, _out)


@router.delete(
    "/{number}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
async def remove_number(
    number: Annotated[str, Path(pattern=r"^\+[1-9][0-9]{6,14}$")],
    request: Request,
    principal: Writer,
) -> Response:
    """Take a number off the list."""
    await _list(request).remove(principal.tenant_id, number)
    await access(request).audit.record(
        "do_not_call.removed", tenant_id=principal.tenant_id, target_type="number", target_id=number
    )
    return Response(status_code=204)
