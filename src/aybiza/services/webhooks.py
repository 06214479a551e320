"""Tenants' webhook endpoints: where events go, which events, and the signing secret.

The secret is shown once (on create and on rotation) and stored sealed. Rotating keeps the
previous secret signing too for a grace period, so receivers can switch without losing events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import delete

from aybiza.errors import NotFound, invalid
from aybiza.outbound.guard import Guard
from aybiza.security.secretbox import SecretBox
from aybiza.security.signing import new_webhook_secret
from aybiza.store.database import Database
from aybiza.store.models import WebhookDelivery, WebhookEndpoint, utcnow
from aybiza.store.paging import Page
from aybiza.store.tenant_repository import TenantRepository
from aybiza.store.webhooks import forget_subscriptions

EventType = Literal[
    "call.started", "call.ended", "transcript.final", "recording.ready", "security.alert"
]
DEFAULT_GRACE_S = 24 * 3600
MAX_GRACE_S = 7 * 24 * 3600


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an absolute http:// or https:// URL")
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(pattern=r"^[^\s\x00-\x1f\x7f]{1,2000}$"),
    AfterValidator(_http_url),
    Field(examples=["https://example.com/aybiza/events"]),
]
Description = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{0,200}$")]


def _distinct(events: list[str]) -> list[str]:
    if len(set(events)) != len(events):
        raise ValueError("lists an event more than once")
    return events


Events = Annotated[list[EventType], Field(min_length=1, max_length=5), AfterValidator(_distinct)]


class WebhookCreate(BaseModel):
    """A new endpoint."""

    model_config = ConfigDict(extra="forbid")
    url: WebhookUrl
    events: Events = Field(
        description="Which events to send: any of call.started, call.ended, transcript.final, "
        "recording.ready, security.alert."
    )
    description: Description = ""
    enabled: bool = True


class WebhookUpdate(BaseModel):
    """Fields to change; the ones left out stay."""

    model_config = ConfigDict(extra="forbid")
    url: WebhookUrl | None = None
    events: Events | None = None
    description: Description | None = None
    enabled: bool | None = None


class RotateSecret(BaseModel):
    """How long the previous secret keeps signing after the rotation."""

    model_config = ConfigDict(extra="forbid")
    grace_period_s: int = Field(default=DEFAULT_GRACE_S, ge=0, le=MAX_GRACE_S)


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    """An endpoint and its new secret, in clear this once."""

    endpoint: WebhookEndpoint
    secret: str


class WebhookService:
    """Business rules for webhook endpoints; scoped to one tenant. ``guard`` decides which URLs
    may be configured (only public targets unless the operator's allow-list says more)."""

    def __init__(self, database: Database, box: SecretBox, guard: Guard) -> None:
        self._database = database
        self._box = box
        self._guard = guard
        self._endpoints = TenantRepository(
            database,
            WebhookEndpoint,
            lambda ref: NotFound(f"no webhook endpoint {ref!r}", field="id"),
        )
        self._deliveries = TenantRepository(
            database,
            WebhookDelivery,
            lambda ref: NotFound(f"no webhook delivery {ref!r}", field="id"),
        )

    def _check_url(self, url: str) -> None:
        problem = self._guard.url_problem(url)
        if problem is not None:
            raise invalid("url", problem, url)

    async def create(self, tenant_id: str, spec: WebhookCreate) -> EndpointWithSecret:
        """Register an endpoint with a fresh secret."""
        self._check_url(spec.url)
        secret = new_webhook_secret()
        row = WebhookEndpoint(
            tenant_id=tenant_id,
            url=spec.url,
            events=list(spec.events),
            description=spec.description,
            enabled=spec.enabled,
            secret_sealed=self._box.seal(secret),
        )
        async with self._database.writing() as session:
            self._endpoints.add(session, tenant_id, row)
        forget_subscriptions(tenant_id)
        return EndpointWithSecret(row, secret)

    async def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        """One endpoint of the tenant."""
        return await self._endpoints.fetch(tenant_id, endpoint_id)

    async def list(
        self, tenant_id: str, *, cursor: str | None, limit: int
    ) -> Page[WebhookEndpoint]:
        """The tenant's endpoints, newest first."""
        return await self._endpoints.list(tenant_id, cursor=cursor, limit=limit)

    async def update(
        self, tenant_id: str, endpoint_id: str, patch: WebhookUpdate
    ) -> WebhookEndpoint:
        """Change the fields sent (null leaves a field as it is)."""
        if patch.url is not None:
            self._check_url(patch.url)
        async with self._database.writing() as session:
            row = await self._endpoints.get(session, tenant_id, endpoint_id)
            if patch.url is not None:
                row.url = patch.url
            if patch.events is not None:
                row.events = list(patch.events)
            if patch.description is not None:
                row.description = patch.description
            if patch.enabled is not None:
                row.enabled = patch.enabled
            row.updated_at = utcnow()
        forget_subscriptions(tenant_id)
        return row

    async def delete(self, tenant_id: str, endpoint_id: str) -> None:
        """Remove the endpoint and its delivery history (pending deliveries are dropped)."""
        async with self._database.writing() as session:
            row = await self._endpoints.get(session, tenant_id, endpoint_id)
            await session.execute(
                delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == row.id)
            )
            await self._endpoints.remove(session, row)
        forget_subscriptions(tenant_id)

    async def rotate(
        self, tenant_id: str, endpoint_id: str, grace_period_s: int
    ) -> EndpointWithSecret:
        """A new secret; the current one keeps signing for ``grace_period_s`` seconds."""
        secret = new_webhook_secret()
        async with self._database.writing() as session:
            row = await self._endpoints.get(session, tenant_id, endpoint_id)
            row.previous_secret_sealed = row.secret_sealed if grace_period_s > 0 else None
            row.previous_secret_expires_at = (
                utcnow() + timedelta(seconds=grace_period_s) if grace_period_s > 0 else None
            )
            row.secret_sealed = self._box.seal(secret)
            row.updated_at = utcnow()
            return EndpointWithSecret(row, secret)

    async def deliveries(
        self, tenant_id: str, endpoint_id: str, *, cursor: str | None, limit: int
    ) -> Page[WebhookDelivery]:
        """The endpoint's deliveries, newest first, with their status and attempts."""
        async with self._database.session() as session:
            row = await self._endpoints.get(session, tenant_id, endpoint_id)
            return await self._deliveries.page(
                session,
                tenant_id,
                WebhookDelivery.endpoint_id == row.id,
                cursor=cursor,
                limit=limit,
            )

    async def send_again(
        self, tenant_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery:
        """Send a delivery again, the same body with a fresh set of attempts (the receiver
        dedupes by its event id); NotFound for another endpoint's or tenant's delivery."""
        async with self._database.writing() as session:
            endpoint = await self._endpoints.get(session, tenant_id, endpoint_id)
            row = await self._deliveries.get(session, tenant_id, delivery_id)
            if row.endpoint_id != endpoint.id:
                raise self._deliveries.missing(delivery_id)
            row.status, row.attempts, row.locked_until = "pending", 0, None
            row.next_attempt_at, row.delivered_at = utcnow(), None
            await session.flush()
            return row


def signing_secrets(box: SecretBox, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, then the previous one while its
    grace period lasts."""
    secrets_ = [box.open(endpoint.secret_sealed)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_sealed is not None and expires is not None and now < expires:
        secrets_.append(box.open(endpoint.previous_secret_sealed))
    return secrets_


def rotating(endpoint: WebhookEndpoint, now: datetime) -> datetime | None:
    """When the previous secret stops signing, if a rotation is under way."""
    expires = endpoint.previous_secret_expires_at
    return (
        expires
        if endpoint.previous_secret_sealed is not None and expires and now < expires
        else None
    )
