"""``/v1/webhooks``: endpoints that receive call events, their secrets and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from aybiza.api.auth import access, require
from aybiza.api.common import ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.api.tenant_routes import TenantRoutes, by_row
from aybiza.security.permissions import Permission
from aybiza.services.tenants import Principal
from aybiza.services.webhooks import (
    EndpointWithSecret,
    RotateSecret,
    WebhookCreate,
    WebhookService,
    WebhookUpdate,
    rotating,
)
from aybiza.store.models import WebhookDelivery, WebhookEndpoint, utcnow

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Admin = Annotated[Principal, Depends(require(Permission.WEBHOOKS_WRITE))]


class WebhookOut(BaseModel):
    """An endpoint (its secret is only shown when created or rotated)."""

    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    previous_secret_expires_at: datetime | None = Field(
        description="While a rotation lasts: when the previous secret stops signing."
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecretOut(WebhookOut):
    """An endpoint with its signing secret, shown this once."""

    secret: str = Field(description="HMAC-SHA256 key for AYBIZA-Signature; shown once.")


class DeliveryOut(BaseModel):
    """One event sent (or being sent) to the endpoint."""

    id: str
    event_id: str
    event: str
    status: str = Field(description="pending, delivered or failed (attempts exhausted).")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


def _service(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhooks
    return service


routes = TenantRoutes(
    router, "webhook_id", _service, read=Permission.WEBHOOKS_WRITE, write=Permission.WEBHOOKS_WRITE
)


def _out(row: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        url=row.url,
        events=list(row.events),
        description=row.description,
        enabled=row.enabled,
        previous_secret_expires_at=rotating(row, utcnow()),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _with_secret(created: EndpointWithSecret) -> WebhookWithSecretOut:
    return WebhookWithSecretOut(**_out(created.endpoint).model_dump(), secret=created.secret)


def _delivery(row: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        event_id=row.event_id,
        event=row.event,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=WebhookWithSecretOut,
    responses=error_responses(401, 403, 422),
)
async def create_webhook(
    body: WebhookCreate, request: Request, principal: Admin
) -> WebhookWithSecretOut:
    """Register an endpoint; the response holds its secret, shown this once."""
    return _with_secret(await _service(request).create(principal.tenant_id, body))


routes.list("list_webhooks", WebhookOut, by_row(_out), "The tenant's endpoints, newest first.")
routes.get("get_webhook", WebhookOut, by_row(_out), "One endpoint.")


@router.patch(
    "/{webhook_id}", response_model=WebhookOut, responses=error_responses(401, 403, 404, 422)
)
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, request: Request, principal: Admin
) -> WebhookOut:
    """Change the URL, events, description or enabled flag."""
    return _out(await _service(request).update(principal.tenant_id, webhook_id, body))


routes.delete("delete_webhook", "Remove the endpoint and its pending deliveries.")


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecretOut,
    responses=error_responses(401, 403, 404, 422),
)
async def rotate_secret(
    webhook_id: str, request: Request, principal: Admin, body: RotateSecret | None = None
) -> WebhookWithSecretOut:
    """A new secret (shown once); the old one keeps signing for ``grace_period_s`` (default a
    day), so deliveries carry two ``v1`` signatures meanwhile."""
    grace = (body or RotateSecret()).grace_period_s
    return _with_secret(await _service(request).rotate(principal.tenant_id, webhook_id, grace))


async def _deliveries(
    request: Request, tenant_id: str, webhook_id: str, cursor: str | None, limit: int
) -> ListOf[DeliveryOut]:
    page = await _service(request).deliveries(tenant_id, webhook_id, cursor=cursor, limit=limit)
    return listed(page, _delivery)


routes.children(
    "list_deliveries",
    "/deliveries",
    DeliveryOut,
    _deliveries,
    "Deliveries to the endpoint, newest first, with status and attempts.",
)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/send-again",
    response_model=DeliveryOut,
    responses=error_responses(401, 403, 404),
)
async def send_again(
    webhook_id: str, delivery_id: str, request: Request, principal: Admin
) -> DeliveryOut:
    """Queue the delivery again: the same body (and event id) with a fresh set of attempts."""
    row = await _service(request).send_again(principal.tenant_id, webhook_id, delivery_id)
    await access(request).audit.record(
        "webhook.delivery_resent",
        tenant_id=principal.tenant_id,
        target_type="webhook_delivery",
        target_id=row.id,
        details={"webhook_id": webhook_id, "event": row.event},
    )
    return _delivery(row)
