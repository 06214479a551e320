"""``/v1/agents``: agents with the seed's agent JSON as the body, versions, publish/rollback."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from aybiza.api.auth import require
from aybiza.api.common import ListOf, listed
from aybiza.api.errors import ApiError, error_responses
from aybiza.api.tenant_routes import TenantRoutes, by_row
from aybiza.security.permissions import Permission
from aybiza.services.agents import AgentService, AgentState
from aybiza.services.tenants import Principal
from aybiza.store.models import Agent, AgentVersion

router = APIRouter(prefix="/v1/agents", tags=["agents"])

Reader = Annotated[Principal, Depends(require(Permission.AGENTS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.AGENTS_WRITE))]
# The body is validated by aybiza.agents (paths of every bad field); OpenAPI shows its schema.
_AGENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AgentConfig"}}},
    }
}


class AgentSummary(BaseModel):
    """An agent in a list."""

    id: str
    name: str
    version: str = Field(description="The latest version (the last one written).")
    published_version: str | None = Field(description="The version incoming calls run.")
    created_at: datetime
    updated_at: datetime


class AgentOut(AgentSummary):
    """An agent with the configuration of its latest version."""

    config: dict[str, Any] = Field(description="The latest version's agent JSON.")


class AgentVersionOut(BaseModel):
    """One immutable version of an agent."""

    id: str
    agent_id: str
    version: str
    published: bool
    config: dict[str, Any]
    created_at: datetime


class PublishRequest(BaseModel):
    """Which version goes live."""

    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.+-]{1,64}$")] = Field(
        examples=["1.1.0"]
    )


def _service(request: Request) -> AgentService:
    service: AgentService = request.app.state.agents
    return service


routes = TenantRoutes(
    router, "agent_id", _service, read=Permission.AGENTS_READ, write=Permission.AGENTS_WRITE
)


def _summary(agent: Agent) -> AgentSummary:
    return AgentSummary(
        id=agent.id,
        name=agent.name,
        version=agent.latest_version,
        published_version=agent.published_version,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


def _out(state: AgentState) -> AgentOut:
    return AgentOut(**_summary(state.agent).model_dump(), config=state.latest.config)


def _version_out(agent: Agent, row: AgentVersion) -> AgentVersionOut:
    return AgentVersionOut(
        id=row.id,
        agent_id=agent.id,
        version=row.version,
        published=agent.published_version_id == row.id,
        config=row.config,
        created_at=row.created_at,
    )


async def read_json(request: Request) -> object:
    """The request's JSON body; a 422 JSON error for a malformed one. Its size and nesting
    are capped before it gets here (``aybiza.api.body_limits``)."""
    body = await request.body()

    def no_constants(name: str) -> object:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(body, parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_json", f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        # A body sent with a non-JSON content type is not measured on the way in.
        raise ApiError(422, "json_too_deep", "the JSON body nests too deeply", "body") from exc


@router.post(
    "",
    status_code=201,
    response_model=AgentOut,
    openapi_extra=_AGENT_BODY,
    responses=error_responses(401, 403, 422),
    summary="Create an agent (its first version is published)",
)
async def create_agent(request: Request, principal: Writer) -> AgentOut:
    """Validate the agent JSON and store it as version ``version`` (default 1.0.0)."""
    return _out(await _service(request).create(principal.tenant_id, await read_json(request)))


routes.list("list_agents", AgentSummary, by_row(_summary), "The tenant's agents, newest first.")
routes.get("get_agent", AgentOut, by_row(_out), "An agent with its latest configuration.")


@router.put(
    "/{agent_id}",
    response_model=AgentOut,
    openapi_extra=_AGENT_BODY,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Change an agent (stores a new version)",
)
async def update_agent(
    agent_id: str,
    request: Request,
    principal: Writer,
    publish: Annotated[bool, Query(description="Publish the new version at once.")] = False,
) -> AgentOut:
    """Store the agent JSON as a new immutable version. Its ``version`` is used when higher
    than every existing one; otherwise the highest version's patch number is raised. The same
    configuration as the latest version changes nothing. ``publish`` is refused (409
    ``eval_required``, nothing stored) while the agent's required eval suite has no passing
    run for the version."""
    body = await read_json(request)
    state = await _service(request).update(principal.tenant_id, agent_id, body, publish=publish)
    return _out(state)


routes.delete(
    "delete_agent",
    "Delete an agent (refused with 409 while a phone number routes to it).",
    errors=(409,),
)


async def _versions(
    request: Request, tenant_id: str, agent_id: str, cursor: str | None, limit: int
) -> ListOf[AgentVersionOut]:
    agent, page = await _service(request).versions(tenant_id, agent_id, cursor=cursor, limit=limit)
    return listed(page, partial(_version_out, agent))


routes.children(
    "list_versions",
    "/versions",
    AgentVersionOut,
    _versions,
    "Every version of the agent, newest first, and which one is published.",
)


@router.get(
    "/{agent_id}/published",
    response_model=AgentVersionOut,
    responses=error_responses(401, 403, 404),
)
async def get_published(agent_id: str, request: Request, principal: Reader) -> AgentVersionOut:
    """The version incoming calls run (404 when none is published). The edge's
    cache-manager serves this from its cache until the next publish (docs/edge.md)."""
    agent, row = await _service(request).published(principal.tenant_id, agent_id)
    return _version_out(agent, row)


@router.get(
    "/{agent_id}/versions/{version}",
    response_model=AgentVersionOut,
    responses=error_responses(401, 403, 404),
)
async def get_version(
    agent_id: str, version: str, request: Request, principal: Reader
) -> AgentVersionOut:
    """One version of the agent."""
    agent, row = await _service(request).version(principal.tenant_id, agent_id, version)
    return _version_out(agent, row)


@router.post(
    "/{agent_id}/publish",
    response_model=AgentOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Publish a version (rollback = publish an earlier one)",
)
async def publish_version(
    agent_id: str, body: PublishRequest, request: Request, principal: Writer
) -> AgentOut:
    """Make ``version`` the one incoming calls run (numbers with a pin or split excepted).
    Refused (409 ``eval_required``) while the agent's eval suite is required and the newest
    recorded run of it for ``version`` did not pass, or none is recorded (docs/evals.md)."""
    return _out(await _service(request).publish(principal.tenant_id, agent_id, body.version))
