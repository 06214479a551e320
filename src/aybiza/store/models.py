"""Database tables. Every row carries ``tenant_id``: the platform is multi-tenant from the start."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid4

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DEFAULT_TENANT = "default"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class Agent(Base):
    """An agent and its configuration (the seed's agent JSON, validated)."""

    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True, default=DEFAULT_TENANT)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(40))
    config: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhoneNumber(Base):
    """A number that routes incoming calls to an agent."""

    __tablename__ = "phone_numbers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True, default=DEFAULT_TENANT)
    e164: Mapped[str] = mapped_column(String(40), unique=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Call(Base):
    """One phone call, written when it starts and updated as it goes."""

    __tablename__ = "calls"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True, default=DEFAULT_TENANT)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    stream_sid: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    agent_version: Mapped[str | None] = mapped_column(String(40))
    from_number: Mapped[str] = mapped_column(String(64), default="")
    to_number: Mapped[str] = mapped_column(String(64), default="")
    direction: Mapped[str] = mapped_column(String(20), default="inbound")
    status: Mapped[str] = mapped_column(String(20), default="ringing")
    ended_reason: Mapped[str | None] = mapped_column(String(60))
    engines: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    transfer_to: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class Turn(Base):
    """One exchange: what the caller said and what the agent answered, with timings."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("call_id", "index"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    user_text: Mapped[str] = mapped_column(Text, default="")
    agent_text: Mapped[str] = mapped_column(Text, default="")
    heard_text: Mapped[str] = mapped_column(Text, default="")
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    model: Mapped[str | None] = mapped_column(String(120))
    timings_ms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TranscriptLine(Base):
    """A line of the transcript, written the moment it is final (caller) or heard (agent)."""

    __tablename__ = "transcript_lines"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
