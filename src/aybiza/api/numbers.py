"""``/v1/phone-numbers``: numbers routed to agents (pinned version, A/B split, or published)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from aybiza.api.auth import require
from aybiza.api.errors import error_responses
from aybiza.api.tenant_routes import TenantRoutes, by_row
from aybiza.security.permissions import Permission
from aybiza.services.number_specs import NumberCreate, NumberUpdate
from aybiza.services.numbers import NumberService, sip_view
from aybiza.services.tenants import Principal
from aybiza.store.models import PhoneNumber
from aybiza.telephony.provisioning import IMPORTED

router = APIRouter(prefix="/v1/phone-numbers", tags=["phone numbers"])

Reader = Annotated[Principal, Depends(require(Permission.NUMBERS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.NUMBERS_WRITE))]


class SipAuthOut(BaseModel):
    """Trunk credentials as shown: the password never leaves the server."""

    username: str
    algorithms: list[str]
    password_set: bool


class SipTrunkOut(BaseModel):
    """A SIP trunk's settings."""

    gateways: list[str]
    transport: str
    allowed_cidrs: list[str]
    register: bool
    auth: SipAuthOut | None
    region: str | None


class TwilioAccountOut(BaseModel):
    """The customer's Twilio account of an imported number (the token never leaves)."""

    account_sid: str
    number_sid: str
    auth_token_set: bool


class PhoneNumberOut(BaseModel):
    """A registered number and its routing."""

    id: str
    number: str
    type: Literal["managed", "twilio", "sip_trunk"]
    agent_id: str
    agent_version: str | None
    version_weights: dict[str, int] | None
    region: str
    fallback_region: str | None
    fallback_number: str | None
    sip: SipTrunkOut | None
    twilio: TwilioAccountOut | None = Field(
        description="Imported twilio numbers: the customer's account holding the number."
    )
    provisioning: Literal["external", "bought", "imported"] = Field(
        description="bought: on the platform's Twilio account (released on delete); imported: "
        "the customer's Twilio number, pointed here (its previous voice URL restored on "
        "delete); external: the platform did not touch the carrier, so point the number's "
        "voice webhook at /twilio/voice yourself."
    )
    created_at: datetime
    updated_at: datetime


def _service(request: Request) -> NumberService:
    service: NumberService = request.app.state.numbers
    return service


routes = TenantRoutes(
    router, "number_id", _service, read=Permission.NUMBERS_READ, write=Permission.NUMBERS_WRITE
)


def _out(row: PhoneNumber) -> PhoneNumberOut:
    sip = sip_view(row)
    return PhoneNumberOut(
        id=row.id,
        number=row.e164,
        type=row.type,
        agent_id=row.agent_id,
        agent_version=row.agent_version,
        version_weights=row.version_weights,
        region=row.region,
        fallback_region=row.fallback_region,
        fallback_number=row.fallback_number,
        sip=SipTrunkOut.model_validate(sip) if sip is not None else None,
        twilio=_twilio_view(row),
        provisioning=row.provisioning,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _twilio_view(row: PhoneNumber) -> TwilioAccountOut | None:
    data = row.provider_data or {}
    if row.provisioning != IMPORTED:
        return None
    return TwilioAccountOut(
        account_sid=data["account_sid"],
        number_sid=data["number_sid"],
        auth_token_set="auth_token_sealed" in data,
    )


@router.post(
    "",
    status_code=201,
    response_model=PhoneNumberOut,
    responses=error_responses(401, 403, 409, 422, 502),
    summary="Register a number and route it to an agent",
)
async def create_number(body: NumberCreate, request: Request, principal: Writer) -> PhoneNumberOut:
    """Register the number. ``managed``: bought on the platform's Twilio account (``number``,
    or the first for sale in ``area_code``); ``twilio`` with ``twilio_account_sid`` and
    ``twilio_auth_token``: the customer's number is pointed here; otherwise recorded only
    (``provisioning: external``)."""
    return _out(await _service(request).create(principal.tenant_id, body))


routes.list("list_numbers", PhoneNumberOut, by_row(_out), "The tenant's numbers, newest first.")
routes.get("get_number", PhoneNumberOut, by_row(_out), "One number.")


@router.patch(
    "/{number_id}", response_model=PhoneNumberOut, responses=error_responses(401, 403, 404, 422)
)
async def update_number(
    number_id: str, body: NumberUpdate, request: Request, principal: Writer
) -> PhoneNumberOut:
    """Change routing or settings; fields left out stay, ``null`` clears an optional one.
    Pointing the number at another agent clears a pin or split unless one is sent too."""
    return _out(await _service(request).update(principal.tenant_id, number_id, body))


routes.delete(
    "delete_number",
    "Release the number (a bought number goes back to Twilio, an imported one gets its\n"
    "previous voice URL back); calls to it are then answered as an unknown number.",
    errors=(502,),
)
