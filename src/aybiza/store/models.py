"""Database tables. Every row belongs to a tenant (``tenant_id``). A call to a number no tenant
registered belongs to the operator's tenant (``demo``); ``calls.tenant_id`` is NULL only when
even that tenant does not exist.

The schema is created and changed only by the Alembic migrations in ``aybiza.store.migrations``;
a change here needs a new revision there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid4

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aybiza.store.sealing import SealedJSON, SealedText


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new row id: 32 lowercase hex digits."""
    return uuid4().hex


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    SQLite stores datetimes as text without an offset; converting to UTC on the way in and
    attaching UTC on the way out keeps comparisons and cursors identical on both databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """To UTC on the way in (naive values are taken as UTC)."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware UTC on the way out."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the JSON and UTC timestamp mappings used by every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        datetime: UtcDateTime(),
    }


class Tenant(Base):
    """A business using the platform; every other row belongs to one."""

    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    max_concurrent_calls: Mapped[int] = mapped_column(Integer, default=10)
    # The owner's switch: every person must pass a second factor (TOTP or a passkey).
    mfa_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The tenant's data policy (docs/security.md, "Retention and erasure", "Compliance modes"):
    # ``none``, ``hipaa`` or ``pci``; days a call's transcript and its events are kept (None:
    # for good).
    compliance_mode: Mapped[str] = mapped_column(String(10), default="none", server_default="none")
    retention_transcripts_days: Mapped[int | None] = mapped_column(Integer)
    retention_events_days: Mapped[int | None] = mapped_column(Integer)
    retention_recordings_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; ``prefix`` identifies it without revealing it."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(24))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Agent(Base):
    """An agent: a name and a list of immutable versions, one of them published (live).

    Deleting an agent only marks it (``deleted_at``) so past calls keep their agent."""

    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_tenant_created", "tenant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    # No foreign key: agents and versions reference each other, and the service keeps this
    # pointing at one of the agent's own versions.
    published_version_id: Mapped[str | None] = mapped_column(String(32))
    published_version: Mapped[str | None] = mapped_column(String(64))
    latest_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class AgentVersion(Base):
    """One immutable configuration of an agent (the seed's agent JSON), named by its semver."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhoneNumber(Base):
    """A number that routes incoming calls to an agent (pinned, weighted or published version).

    ``sip`` holds the trunk settings without the password, which is sealed separately;
    ``provider_data`` is the provisioner's (e.g. the Twilio number's SID and previous voice URL).
    """

    __tablename__ = "phone_numbers"
    __table_args__ = (Index("ix_phone_numbers_tenant_created", "tenant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    agent_version: Mapped[str | None] = mapped_column(String(64))
    version_weights: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    region: Mapped[str] = mapped_column(String(64))
    fallback_region: Mapped[str | None] = mapped_column(String(64))
    fallback_number: Mapped[str | None] = mapped_column(String(200))
    sip: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    sip_password_sealed: Mapped[str | None] = mapped_column(Text)
    provisioning: Mapped[str] = mapped_column(String(20))
    provider_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Call(Base):
    """One phone call, written when it starts and updated as it goes."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_calls_tenant_status", "tenant_id", "status"),
        Index("ix_calls_status_lease", "status", "lease_until"),
        Index("ix_calls_tenant_from_index", "tenant_id", "from_number_index"),
        Index("ix_calls_tenant_to_index", "tenant_id", "to_number_index"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"))
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    # Which carrier brought the call: twilio, sip, browser (``aybiza.telephony.carrier``).
    carrier: Mapped[str] = mapped_column(String(20), default="twilio", server_default="twilio")
    stream_sid: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    agent_version_id: Mapped[str | None] = mapped_column(ForeignKey("agent_versions.id"))
    phone_number_id: Mapped[str | None] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="SET NULL")
    )
    # Sealed at rest (``aybiza.store.sealing``); searched through their blind indexes.
    from_number: Mapped[str] = mapped_column(
        SealedText("calls", "from_number", sqlite_length=64), default=""
    )
    to_number: Mapped[str] = mapped_column(
        SealedText("calls", "to_number", sqlite_length=64), default=""
    )
    from_number_index: Mapped[str | None] = mapped_column(String(64))
    to_number_index: Mapped[str | None] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(20), default="inbound")
    status: Mapped[str] = mapped_column(String(20), default="ringing")
    ended_reason: Mapped[str | None] = mapped_column(String(60))
    engines: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Sealed: a warm transfer's summary (``transfer_summary``) retells the call.
    stats: Mapped[dict[str, Any]] = mapped_column(SealedJSON("calls", "stats"), default=dict)
    transfer_to: Mapped[str | None] = mapped_column(String(200))
    # What the carrier passed along for the agent (a SIP INVITE's ``X-`` headers).
    custom_parameters: Mapped[dict[str, str] | None] = mapped_column(
        SealedJSON("calls", "custom_parameters")
    )
    # The stored recording (key, duration_s, channels, bytes), once there is one.
    recording: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the retention sweep removed what was said on the call (its transcript, turn texts,
    # tool calls and analysis).
    transcript_expired_at: Mapped[datetime | None]
    hangup_requested_at: Mapped[datetime | None]
    # Outbound calls screened for answering machines: human, machine, fax or unknown.
    answered_by: Mapped[str | None] = mapped_column(String(16))
    # The server process running the call's loop, and until when its lease holds.
    worker_id: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class Turn(Base):
    """One exchange: what the caller said and what the agent answered, with timings."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("call_id", "index"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    user_text: Mapped[str] = mapped_column(SealedText("turns", "user_text"), default="")
    agent_text: Mapped[str] = mapped_column(SealedText("turns", "agent_text"), default="")
    heard_text: Mapped[str] = mapped_column(SealedText("turns", "heard_text"), default="")
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    model: Mapped[str | None] = mapped_column(String(120))
    timings_ms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[dict[str, Any]] = mapped_column(SealedJSON("turns", "notes"), default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TranscriptLine(Base):
    """A line of the transcript, written the moment it is final (caller) or heard (agent)."""

    __tablename__ = "transcript_lines"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(SealedText("transcript_lines", "text"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    """Where a tenant wants call events sent. Secrets are sealed (``SecretBox``); during a
    rotation the previous secret keeps signing until ``previous_secret_expires_at``."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_tenant_created", "tenant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]]
    description: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: the exact body sent, and how its delivery is going.

    ``status`` is ``pending`` (waiting for ``next_attempt_at``), ``delivered`` or ``failed``
    (attempts exhausted). ``locked_until`` lets one dispatcher at a time own an attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_tenant_created", "tenant_id", "created_at"),
        Index("ix_webhook_deliveries_call", "call_id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(40))
    # The exact body sent, sealed at rest (it holds transcripts and numbers).
    body: Mapped[str] = mapped_column(SealedText("webhook_deliveries", "body"))
    # The call an event is about (``call.*``, ``transcript.final``), for erasing its caller.
    call_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
