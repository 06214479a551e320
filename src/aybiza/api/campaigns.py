"""``/v1/campaigns``: outbound campaigns (a contact list dialled with pacing, calling windows and
retries), their results per contact and as CSV; pause, resume, cancel."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from aybiza.agents.errors import FieldError
from aybiza.api.auth import access, require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.errors import Invalid
from aybiza.security.permissions import Permission
from aybiza.services.campaign_dispatcher import CampaignDispatcher
from aybiza.services.campaign_specs import CampaignCreate, CampaignSettings, contacts_from_csv
from aybiza.services.campaigns import CampaignService, CampaignView
from aybiza.services.tenants import Principal
from aybiza.store.campaign_models import Campaign, CampaignContact

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
Reader = Annotated[Principal, Depends(require(Permission.CAMPAIGNS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.CAMPAIGNS_WRITE))]
MAX_CSV_BYTES = 2_000_000


class Counts(BaseModel):
    """How the campaign's contacts stand."""

    total: int
    by_status: dict[str, int] = Field(description="pending, dialling, done, skipped")
    by_outcome: dict[str, int] = Field(
        description="answered, voicemail, fax, busy, no-answer, failed, do-not-call, "
        "outside-window, canceled"
    )


class CampaignOut(BaseModel):
    """A campaign."""

    id: str
    name: str
    status: str = Field(description="running, paused, canceled or completed")
    from_number_id: str
    agent_id: str | None
    agent_version: str | None
    pacing: dict[str, Any]
    calling_window: dict[str, Any]
    retry: dict[str, Any]
    contacts: Counts | None = Field(default=None, description="Only on a single campaign.")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class ContactOut(BaseModel):
    """A contact and its result so far."""

    position: int
    number: str
    variables: dict[str, str]
    time_zones: list[str]
    status: str
    outcome: str | None
    attempts: int
    next_attempt_at: datetime | None
    last_call_id: str | None


class ContactPage(BaseModel):
    """Contacts in list order; pass ``next_after`` as ``after`` for the next page."""

    data: list[ContactOut]
    next_after: int | None


def _service(request: Request) -> CampaignService:
    service: CampaignService = request.app.state.campaigns
    return service


def _out(campaign: Campaign, view: CampaignView | None = None) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        from_number_id=campaign.phone_number_id,
        agent_id=campaign.agent_id,
        agent_version=campaign.agent_version,
        pacing={
            "calls_per_minute": campaign.calls_per_minute,
            "max_concurrent_calls": campaign.max_concurrent_calls,
        },
        calling_window=campaign.calling_window,
        retry=campaign.retry,
        contacts=Counts(total=view.contacts, by_status=view.by_status, by_outcome=view.by_outcome)
        if view is not None
        else None,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        finished_at=campaign.finished_at,
    )


def _contact(contact: CampaignContact) -> ContactOut:
    return ContactOut(
        position=contact.position,
        number=contact.number,
        variables=contact.variables,
        time_zones=contact.time_zones,
        status=contact.status,
        outcome=contact.outcome,
        attempts=contact.attempts,
        next_attempt_at=contact.due_at if contact.status == "pending" else None,
        last_call_id=contact.last_call_id,
    )


async def _spec(request: Request) -> CampaignCreate:
    """The campaign from a JSON body, or from a multipart form: ``campaign`` (the settings as
    JSON) and ``file`` (the contacts as CSV)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
            return CampaignCreate.model_validate_json(await request.body())
        form = await request.form(max_files=1, max_fields=5)
        upload, settings = form.get("file"), form.get("campaign")
        if upload is None or isinstance(upload, str):
            raise Invalid([FieldError("file", "required: the contacts as a CSV file")])
        if not isinstance(settings, str):
            raise Invalid([FieldError("campaign", "required: the campaign's settings as JSON")])
        data = await upload.read(MAX_CSV_BYTES + 1)
        if len(data) > MAX_CSV_BYTES:
            raise Invalid([FieldError("file", f"larger than {MAX_CSV_BYTES} bytes")])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise Invalid([FieldError("file", "not UTF-8 text")]) from exc
        base = CampaignSettings.model_validate_json(settings)
        contacts = contacts_from_csv(text)
        return CampaignCreate.model_validate(
            {**base.model_dump(by_alias=True), "contacts": [c.model_dump() for c in contacts]}
        )
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    except json.JSONDecodeError as exc:
        raise Invalid([FieldError("campaign", "not JSON")]) from exc


@router.post(
    "",
    status_code=201,
    response_model=CampaignOut,
    responses=error_responses(401, 403, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CampaignCreate"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["campaign", "file"],
                        "properties": {
                            "campaign": {"type": "string", "description": "Settings, JSON."},
                            "file": {"type": "string", "format": "binary"},
                        },
                    }
                },
            },
        }
    },
    summary="Start an outbound campaign",
)
async def create_campaign(request: Request, principal: Writer) -> CampaignOut:
    """Dial a contact list: JSON with ``contacts``, or a multipart form with the settings as
    ``campaign`` and a CSV ``file`` (a ``number`` column, optional ``timezone``, every other
    column a variable for the agent). Starts running at once."""
    spec = await _spec(request)
    campaign = await _service(request).create(principal.tenant_id, spec)
    dispatcher: CampaignDispatcher = request.app.state.campaign_dispatcher
    dispatcher.wake()
    await access(request).audit.record(
        "campaign.created",
        tenant_id=principal.tenant_id,
        target_type="campaign",
        target_id=campaign.id,
        details={"contacts": len(spec.contacts)},
    )
    return _out(campaign, await _service(request).view(principal.tenant_id, campaign.id))


@router.get("", response_model=ListOf[CampaignOut], responses=error_responses(400, 401, 403))
async def list_campaigns(
    request: Request, principal: Reader, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> ListOf[CampaignOut]:
    """The tenant's campaigns, newest first."""
    page = await _service(request).page(principal.tenant_id, cursor=cursor, limit=limit)
    return listed(page, _out)


@router.get("/{campaign_id}", response_model=CampaignOut, responses=error_responses(401, 403, 404))
async def get_campaign(campaign_id: str, request: Request, principal: Reader) -> CampaignOut:
    """A campaign with its contacts counted by status and outcome."""
    view = await _service(request).view(principal.tenant_id, campaign_id)
    return _out(view.campaign, view)


async def _move(
    request: Request, principal: Principal, campaign_id: str, action: str
) -> CampaignOut:
    view = await _service(request).move(principal.tenant_id, campaign_id, action)
    request.app.state.campaign_dispatcher.wake()
    await access(request).audit.record(
        f"campaign.{action}",
        tenant_id=principal.tenant_id,
        target_type="campaign",
        target_id=campaign_id,
    )
    return _out(view.campaign, view)


_MOVE_ERRORS = error_responses(401, 403, 404, 409)


@router.post("/{campaign_id}/pause", response_model=CampaignOut, responses=_MOVE_ERRORS)
async def pause_campaign(campaign_id: str, request: Request, principal: Writer) -> CampaignOut:
    """Stop placing new calls; calls already ringing finish and are recorded."""
    return await _move(request, principal, campaign_id, "pause")


@router.post("/{campaign_id}/resume", response_model=CampaignOut, responses=_MOVE_ERRORS)
async def resume_campaign(campaign_id: str, request: Request, principal: Writer) -> CampaignOut:
    """Place calls again."""
    return await _move(request, principal, campaign_id, "resume")


@router.post("/{campaign_id}/cancel", response_model=CampaignOut, responses=_MOVE_ERRORS)
async def cancel_campaign(campaign_id: str, request: Request, principal: Writer) -> CampaignOut:
    """End the campaign: contacts not yet called get the outcome ``canceled``."""
    return await _move(request, principal, campaign_id, "cancel")


@router.get(
    "/{campaign_id}/contacts", response_model=ContactPage, responses=error_responses(401, 403, 404)
)
async def campaign_contacts(
    campaign_id: str,
    request: Request,
    principal: Reader,
    after: Annotated[int, Query(ge=0, le=1_000_000, description="First position.")] = 0,
    limit: Limit = DEFAULT_PAGE,
) -> ContactPage:
    """Each contact's status, outcome and attempts, in list order."""
    rows = await _service(request).contacts(
        principal.tenant_id, campaign_id, after=after, limit=limit
    )
    more = len(rows) == limit
    return ContactPage(
        data=[_contact(row) for row in rows], next_after=rows[-1].position + 1 if more else None
    )


@router.get(
    "/{campaign_id}/results.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(401, 403, 404)},
)
async def campaign_results(campaign_id: str, request: Request, principal: Reader) -> Response:
    """Every contact's result as CSV (results, then the contact's variables)."""
    text = await _service(request).results_csv(principal.tenant_id, campaign_id)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )
