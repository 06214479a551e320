"""The audit log: append-only, one hash chain per tenant (``chain`` is the tenant's id, or
``platform`` for events that belong to no tenant).

Each event's ``hash`` is SHA-256 over the previous event's hash and the event's canonical JSON
(``aybiza.store.audit_chain``); ``audit_chain_heads`` remembers each chain's last event, so a
deleted tail is noticed too. The migration adds triggers that refuse UPDATE and DELETE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aybiza.store.models import Base, new_id, utcnow

PLATFORM_CHAIN = "platform"


class AuditEvent(Base):
    """One change or security event: who (``actor_*``), from where, what, before and after."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_events_tenant_created", "tenant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    chain: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    # No foreign key: the log outlives what it describes.
    tenant_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(200))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(320))
    actor_role: Mapped[str | None] = mapped_column(String(400))
    source_address: Mapped[str | None] = mapped_column(String(64))
    request: Mapped[str | None] = mapped_column(String(300))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last event of a chain: its sequence number and hash."""

    __tablename__ = "audit_chain_heads"
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
