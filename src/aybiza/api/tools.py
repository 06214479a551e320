"""``/v1/tools``: the tenant's tools (HTTP endpoints and configured built-ins) that agents attach
by name. Reading needs ``agents:read``, changing ``agents:write`` (tools are part of agents)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from aybiza.api.auth import require
from aybiza.api.errors import error_responses
from aybiza.api.tenant_routes import TenantRoutes
from aybiza.automation.builtins import BUILTIN_SPECS
from aybiza.automation.platform import Automation
from aybiza.automation.tool_specs import ToolCreate, ToolUpdate
from aybiza.automation.tool_store import ToolService, ToolWithSecret, header_names
from aybiza.security.permissions import Permission
from aybiza.services.tenants import Principal
from aybiza.store.automation_models import ToolDefinition

router = APIRouter(prefix="/v1/tools", tags=["tools"])

Reader = Annotated[Principal, Depends(require(Permission.AGENTS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.AGENTS_WRITE))]


class ToolOut(BaseModel):
    """A tool (header values and the signing secret are never shown here)."""

    id: str
    name: str
    description: str
    kind: str = Field(description="http, or the built-in it configures.")
    parameters: dict[str, Any] = Field(description="JSON Schema of the arguments.")
    options: dict[str, Any]
    headers: list[str] = Field(description="Names of the headers sent (values hidden).")
    created_at: datetime
    updated_at: datetime


class ToolWithSecretOut(ToolOut):
    """A tool with its signing secret, shown this once."""

    secret: str = Field(description="HMAC-SHA256 key of AYBIZA-Signature; shown once.")


class BuiltinOut(BaseModel):
    """A built-in tool any agent can attach by name."""

    name: str
    description: str
    parameters: dict[str, Any]


def _automation(request: Request) -> Automation:
    automation: Automation = request.app.state.automation
    return automation


def _service(request: Request) -> ToolService:
    return _automation(request).tools


routes = TenantRoutes(
    router, "tool_id", _service, read=Permission.AGENTS_READ, write=Permission.AGENTS_WRITE
)


def _out(request: Request, row: ToolDefinition) -> ToolOut:
    return ToolOut(
        id=row.id,
        name=row.name,
        description=row.description,
        kind=row.kind,
        parameters=row.parameters,
        options=row.options,
        headers=header_names(row, _automation(request).box),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _with_secret(request: Request, made: ToolWithSecret) -> ToolWithSecretOut:
    return ToolWithSecretOut(**_out(request, made.tool).model_dump(), secret=made.secret)


@router.post(
    "",
    status_code=201,
    response_model=ToolWithSecretOut,
    responses=error_responses(401, 403, 409, 422),
    summary="Create a tool (the response holds its signing secret, shown once)",
)
async def create_tool(body: ToolCreate, request: Request, principal: Writer) -> ToolWithSecretOut:
    """Define an HTTP tool or configure a built-in for the tenant's agents."""
    return _with_secret(request, await _service(request).create(principal.tenant_id, body))


routes.list("list_tools", ToolOut, _out, "The tenant's tools, newest first.")


@router.get("/builtins", response_model=list[BuiltinOut], responses=error_responses(401, 403))
async def list_builtins(principal: Reader) -> list[BuiltinOut]:
    """The built-in tools (``end_call`` and ``transfer_call`` are always offered to models)."""
    return [
        BuiltinOut(name=spec.name, description=spec.description, parameters=spec.input_schema)
        for spec in BUILTIN_SPECS.values()
    ]


routes.get("get_tool", ToolOut, _out, "One tool.")


@router.patch("/{tool_id}", response_model=ToolOut, responses=error_responses(401, 403, 404, 422))
async def update_tool(
    tool_id: str, body: ToolUpdate, request: Request, principal: Writer
) -> ToolOut:
    """Change a tool's description, parameters or options (name and kind stay)."""
    return _out(request, await _service(request).update(principal.tenant_id, tool_id, body))


routes.delete(
    "delete_tool", "Delete a tool; agents naming it stop offering it from their next call."
)


@router.post(
    "/{tool_id}/rotate-secret",
    response_model=ToolWithSecretOut,
    responses=error_responses(401, 403, 404),
)
async def rotate_tool_secret(
    tool_id: str, request: Request, principal: Writer
) -> ToolWithSecretOut:
    """A new signing secret, used from the next request on; shown this once."""
    made = await _service(request).rotate_secret(principal.tenant_id, tool_id)
    return _with_secret(request, made)
