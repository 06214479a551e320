"""Tables of outbound campaigns: the campaign, its contacts (numbers and variables sealed at
rest), each dialling attempt, and the tenant's do-not-call list.

Created by the migration ``0340_campaigns``. An attempt row is claimed (unique per contact and
attempt number, carrying the id its call will have) and committed before the call is placed, so
a dispatcher that restarts finds it and follows that call instead of dialling again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aybiza.store.models import Base, new_id, utcnow
from aybiza.store.sealing import SealedJSON, SealedText


class Campaign(Base):
    """An outbound campaign: who calls (number, agent), how fast, when (the calling window in
    each callee's local time) and how often to try again. ``status``: running, paused,
    canceled or completed. The dispatcher holding it writes ``lease_owner``/``lease_until``."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_tenant_created", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="running")
    phone_number_id: Mapped[str] = mapped_column(ForeignKey("phone_numbers.id"))
    agent_id: Mapped[str | None] = mapped_column(String(32))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    calls_per_minute: Mapped[float] = mapped_column(Float)
    max_concurrent_calls: Mapped[int] = mapped_column(Integer)
    calling_window: Mapped[dict[str, Any]] = mapped_column(JSON)
    retry: Mapped[dict[str, Any]] = mapped_column(JSON)
    next_dial_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class CampaignContact(Base):
    """One callee of a campaign with its variables (given to the agent). ``status``: pending
    (due at ``due_at``), dialling, done or skipped; ``outcome`` is the last attempt's."""

    __tablename__ = "campaign_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "position", name="uq_campaign_contacts_position"),
        Index("ix_campaign_contacts_due", "campaign_id", "status", "due_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    position: Mapped[int] = mapped_column(Integer)
    # Sealed at rest (``aybiza.store.sealing``) under the tenant's data key.
    number: Mapped[str] = mapped_column(SealedText("campaign_contacts", "number"))
    variables: Mapped[dict[str, Any]] = mapped_column(SealedJSON("campaign_contacts", "variables"))
    time_zones: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    last_call_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignAttempt(Base):
    """One dialling attempt of a contact; ``call_id`` is chosen before the call is placed.
    ``status``: claimed (committed, the call may or may not be placed yet), dialling (placed)
    or ended (``outcome`` known)."""

    __tablename__ = "campaign_attempts"
    __table_args__ = (
        UniqueConstraint("contact_id", "attempt", name="uq_campaign_attempts_contact_attempt"),
        Index("ix_campaign_attempts_open", "campaign_id", "status"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("campaign_contacts.id"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="claimed")
    outcome: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(String(500))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class DoNotCall(Base):
    """A number the tenant's campaigns never dial (kept in plain text: it is looked up)."""

    __tablename__ = "do_not_call"
    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_do_not_call_number"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    number: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
