"""``/v1/keys`` and ``/v1/tenant``: the tenant's API keys (shown once) and its settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from aybiza.api.auth import authenticated, require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.security.permissions import Permission
from aybiza.services.tenants import Principal, TenantService
from aybiza.store.models import ApiKey

router = APIRouter(prefix="/v1", tags=["keys and tenant"])

KeyAdmin = Annotated[Principal, Depends(require(Permission.KEYS_WRITE))]


class KeyCreate(BaseModel):
    """A new key for the caller's tenant; it cannot hold scopes the calling key lacks."""

    model_config = ConfigDict(extra="forbid")
    scopes: list[Permission] = Field(min_length=1, max_length=10, examples=[["calls:read"]])
    name: str = Field(default="", max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")


class KeyOut(BaseModel):
    """A key as listed: never the key itself, only its first characters."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class NewKeyOut(KeyOut):
    """A created key: ``key`` is shown this once and cannot be retrieved later."""

    key: str


class TenantOut(BaseModel):
    """The caller's tenant."""

    id: str
    name: str
    max_concurrent_calls: int
    live_calls: int
    key_id: str | None = Field(description="The key making this request (null: operator key).")
    scopes: list[str]


def _service(request: Request) -> TenantService:
    service: TenantService = request.app.state.tenants
    return service


def _out(row: ApiKey) -> KeyOut:
    return KeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=list(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


@router.get("/tenant", response_model=TenantOut, responses=error_responses(401))
async def get_tenant(
    request: Request, principal: Annotated[Principal, Depends(authenticated)]
) -> TenantOut:
    """Who the key belongs to, its concurrency limit and live calls (any valid key)."""
    tenant, live = await _service(request).tenant(principal.tenant_id)
    return TenantOut(
        id=tenant.id,
        name=tenant.name,
        max_concurrent_calls=tenant.max_concurrent_calls,
        live_calls=live,
        key_id=principal.key_id,
        scopes=sorted(principal.scopes),
    )


@router.post(
    "/keys", status_code=201, response_model=NewKeyOut, responses=error_responses(401, 403, 422)
)
async def create_key(body: KeyCreate, request: Request, principal: KeyAdmin) -> NewKeyOut:
    """Create a key for this tenant and show it once."""
    issued = await _service(request).create_key(
        principal.tenant_id,
        [scope.value for scope in body.scopes],
        name=body.name,
        granted_by=principal.scopes,
    )
    return NewKeyOut(**_out(issued.row).model_dump(), key=issued.secret)


@router.get("/keys", response_model=ListOf[KeyOut], responses=error_responses(400, 401, 403))
async def list_keys(
    request: Request, principal: KeyAdmin, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> ListOf[KeyOut]:
    """The tenant's keys, revoked ones included, newest first."""
    page = await _service(request).list_keys(principal.tenant_id, cursor=cursor, limit=limit)
    return listed(page, _out)


@router.delete("/keys/{key_id}", response_model=KeyOut, responses=error_responses(401, 403, 404))
async def revoke_key(key_id: str, request: Request, principal: KeyAdmin) -> KeyOut:
    """Revoke a key: from now on it is answered 401. A key cannot revoke a key holding scopes
    it lacks (403)."""
    service = _service(request)
    return _out(await service.revoke_key(principal.tenant_id, key_id, revoked_by=principal.scopes))
