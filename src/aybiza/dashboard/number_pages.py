"""``/numbers``: the tenant's numbers and the agent each routes to; buy a number, import a
Twilio number, add a SIP trunk, route a number to another agent. The forms become the same
``NumberCreate`` and ``NumberUpdate`` documents ``/v1/phone-numbers`` takes, handled by the
same ``NumberService``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aybiza.dashboard.gate import PagePerson, page, page_for
from aybiza.errors import Invalid, ServiceError
from aybiza.security.permissions import Permission
from aybiza.services.agents import AgentService
from aybiza.services.number_specs import NumberCreate, NumberUpdate
from aybiza.services.numbers import NumberService

router = APIRouter(prefix="/numbers", include_in_schema=False)

Viewer = Annotated[PagePerson, Depends(page_for(Permission.NUMBERS_READ))]
Editor = Annotated[PagePerson, Depends(page_for(Permission.NUMBERS_WRITE))]
Value = Annotated[str, Form(max_length=500)]


def _numbers(request: Request) -> NumberService:
    service: NumberService = request.app.state.numbers
    return service


async def _page(
    request: Request, person: PagePerson, *, error: str = "", field: str = "", status: int = 200
) -> HTMLResponse:
    numbers = await _numbers(request).list(person.tenant_id, cursor=None, limit=100)
    agents_service: AgentService = request.app.state.agents
    agents = await agents_service.list(person.tenant_id, cursor=None, limit=100)
    return page(
        request,
        "numbers.html",
        person,
        status_code=status,
        numbers=numbers.items,
        agents=agents.items,
        names={agent.id: agent.name for agent in agents.items},
        error=error,
        field=field,
    )


def _problem(exc: ValidationError | ServiceError) -> tuple[str, str]:
    """The message and the field it names."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}", where
    if isinstance(exc, Invalid) and exc.errors:
        first_error = exc.errors[0]
        return f"{first_error.path}: {first_error.message}", first_error.path
    return exc.message, exc.field or ""


@router.get("")
async def numbers_page(request: Request, person: Viewer) -> HTMLResponse:
    """The numbers and the forms that add them."""
    return await _page(request, person)


@router.post("", response_model=None)
async def add_number(
    request: Request,
    person: Editor,
    type: Value,
    agent_id: Value,
    number: Value = "",
    area_code: Value = "",
    twilio_account_sid: Value = "",
    twilio_auth_token: Value = "",
    gateway: Value = "",
    sip_username: Value = "",
    sip_password: Value = "",
) -> Response:
    """Buy (``managed``), import (``twilio``) or add a SIP trunk number (``sip_trunk``)."""
    body: dict[str, Any] = {"type": type, "agent_id": agent_id}
    optional = {
        "number": number,
        "area_code": area_code,
        "twilio_account_sid": twilio_account_sid,
        "twilio_auth_token": twilio_auth_token,
    }
    body.update({key: value for key, value in optional.items() if value})
    if type == "sip_trunk":
        sip: dict[str, Any] = {"gateways": [gateway] if gateway else []}
        if sip_username or sip_password:
            sip["auth"] = {"username": sip_username, "password": sip_password}
        body["sip"] = sip
    try:
        await _numbers(request).create(person.tenant_id, NumberCreate.model_validate(body))
    except (ValidationError, ServiceError) as exc:
        message, field = _problem(exc)
        return await _page(request, person, error=message, field=field, status=422)
    return RedirectResponse("/numbers", status_code=303)


@router.post("/{number_id}/route", response_model=None)
async def route_number(
    request: Request, person: Editor, number_id: str, agent_id: Value
) -> Response:
    """Send the number's calls to another agent."""
    try:
        patch = NumberUpdate.model_validate({"agent_id": agent_id})
        await _numbers(request).update(person.tenant_id, number_id, patch)
    except (ValidationError, ServiceError) as exc:
        message, field = _problem(exc)
        status = 404 if getattr(exc, "code", "") == "not_found" else 422
        return await _page(request, person, error=message, field=field, status=status)
    return RedirectResponse("/numbers", status_code=303)
