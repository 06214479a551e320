"""``/agents``: the list, a new agent, the JSON editor (schema errors shown at their fields),
versions with a diff, publish and rollback, and the link to talk to the agent. Every change
goes through ``AgentService``, as ``/v1/agents`` does."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aybiza.agents.demo import DEMO_AGENT
from aybiza.dashboard.config_errors import ShownError, parse_error, shown_errors
from aybiza.dashboard.gate import PagePerson, not_found, page, page_for
from aybiza.errors import Invalid, NotFound, ServiceError
from aybiza.security.permissions import Permission
from aybiza.services.agents import AgentService

router = APIRouter(prefix="/agents", include_in_schema=False)

Viewer = Annotated[PagePerson, Depends(page_for(Permission.AGENTS_READ))]
Editor = Annotated[PagePerson, Depends(page_for(Permission.AGENTS_WRITE))]
Config = Annotated[str, Form(max_length=200_000)]
STARTER = {"name": "New agent", "system_prompt": "You help callers. Keep answers short."}


def _agents(request: Request) -> AgentService:
    service: AgentService = request.app.state.agents
    return service


def _pretty(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, ensure_ascii=False)


def _parsed(text: str) -> tuple[object, list[ShownError]]:
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [parse_error(exc)]


@router.get("")
async def agent_list(request: Request, person: Viewer) -> HTMLResponse:
    """The tenant's agents."""
    listed = await _agents(request).list(person.tenant_id, cursor=None, limit=100)
    return page(
        request,
        "agents.html",
        person,
        agents=listed.items,
        config=_pretty(STARTER),
        errors=[],
        demo=_pretty({**DEMO_AGENT, "name": "ACME support (copy)"}),
    )


@router.post("", response_model=None)
async def create_agent(request: Request, person: Editor, config: Config) -> Response:
    """Create an agent from the JSON (its first version is published)."""
    body, errors = _parsed(config)
    if not errors:
        try:
            state = await _agents(request).create(person.tenant_id, body)
        except Invalid as exc:
            errors = shown_errors(config, exc.errors)
        else:
            return RedirectResponse(f"/agents/{state.agent.id}?saved=1", status_code=303)
    listed = await _agents(request).list(person.tenant_id, cursor=None, limit=100)
    return page(
        request,
        "agents.html",
        person,
        status_code=422,
        agents=listed.items,
        config=config,
        errors=errors,
        demo="",
    )


async def _editor(
    request: Request,
    person: PagePerson,
    agent_id: str,
    *,
    config: str | None = None,
    errors: list[ShownError] | None = None,
    message: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    service = _agents(request)
    try:
        state = await service.get(person.tenant_id, agent_id)
        _agent, versions = await service.versions(person.tenant_id, agent_id, cursor=None, limit=50)
    except NotFound as exc:
        return not_found(request, person, exc)
    return page(
        request,
        "agent.html",
        person,
        status_code=status_code,
        agent=state.agent,
        latest=state.latest,
        versions=versions.items,
        older=_older(versions.items, state.agent.published_version_id),
        config=config if config is not None else _pretty(state.latest.config),
        errors=errors or [],
        message=message or _notice(request),
    )


@router.get("/{agent_id}")
async def agent_page(request: Request, person: Viewer, agent_id: str) -> HTMLResponse:
    """The agent's editor, versions and actions."""
    return await _editor(request, person, agent_id)


@router.post("/{agent_id}", response_model=None)
async def save_agent(
    request: Request,
    person: Editor,
    agent_id: str,
    config: Config,
    publish: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Store the JSON as a new version (and publish it when asked)."""
    body, errors = _parsed(config)
    if not errors:
        try:
            await _agents(request).update(person.tenant_id, agent_id, body, publish=bool(publish))
        except Invalid as exc:
            errors = shown_errors(config, exc.errors)
        except NotFound as exc:
            return not_found(request, person, exc)
        except ServiceError as exc:
            return await _editor(
                request, person, agent_id, config=config, message=exc.message, status_code=409
            )
        else:
            return RedirectResponse(f"/agents/{agent_id}?saved=1", status_code=303)
    return await _editor(request, person, agent_id, config=config, errors=errors, status_code=422)


@router.post("/{agent_id}/publish", response_model=None)
async def publish(
    request: Request, person: Editor, agent_id: str, version: Annotated[str, Form(max_length=64)]
) -> Response:
    """Publish a version (an earlier one: a rollback)."""
    try:
        await _agents(request).publish(person.tenant_id, agent_id, version)
    except NotFound as exc:
        return not_found(request, person, exc)
    except ServiceError as exc:
        return await _editor(request, person, agent_id, message=exc.message, status_code=409)
    return RedirectResponse(f"/agents/{agent_id}?published=1", status_code=303)


@router.get("/{agent_id}/diff")
async def diff(
    request: Request,
    person: Viewer,
    agent_id: str,
    a: Annotated[str, Query(max_length=64)] = "",
    b: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """A unified diff of two versions' JSON."""
    service = _agents(request)
    try:
        agent, old = await service.version(person.tenant_id, agent_id, a)
        _agent, new = await service.version(person.tenant_id, agent_id, b)
    except NotFound as exc:
        return not_found(request, person, exc)
    lines = difflib.unified_diff(
        _pretty(old.config).splitlines(),
        _pretty(new.config).splitlines(),
        fromfile=f"version {old.version}",
        tofile=f"version {new.version}",
        lineterm="",
    )
    return page(request, "agent_diff.html", person, agent=agent, a=a, b=b, lines=list(lines))


def _notice(request: Request) -> str:
    if request.query_params.get("published"):
        return "Published."
    return "Saved." if request.query_params.get("saved") else ""


def _older(versions: Sequence[Any], published_id: str | None) -> set[str]:
    """Ids of versions older than the published one (newest first): publishing one of them
    is a rollback."""
    ids = [v.id for v in versions]
    return set(ids[ids.index(published_id) + 1 :]) if published_id in ids else set()
