"""Rows the automation tests need (tenants, agents, finished calls) written straight into the
database, a stand-in for the call loop's ``CallControls``, and where the test Redis is."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aybiza.store.database import Database
from aybiza.store.models import Agent, AgentVersion, Call, PhoneNumber, Tenant, TranscriptLine, Turn

SECRET_KEY = b"automation-tests-master-key-0123456789abcdef"
REDIS_URL = os.environ.get("AYBIZA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable() -> bool:
    """Whether the Redis of ``REDIS_URL`` accepts connections (arq tests skip otherwise)."""
    parsed = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


CALLER = "+15551230001"
OUR_NUMBER = "+15559870002"


@dataclass
class Controls:
    """What the call loop gives tools: records played audio and pressed keys (accepted as
    keypad events when ``keypad_events``, as on SIP), answers digit collection."""

    call_id: str
    call_sid: str = "CA" + "0" * 32
    played: list[bytes] = field(default_factory=list)
    keypad_events: bool = False
    pressed: list[str] = field(default_factory=list)
    digits: str = ""
    collect_requests: list[dict[str, Any]] = field(default_factory=list)

    async def play_audio(self, mulaw: bytes) -> None:
        self.played.append(mulaw)

    async def send_digits(self, digits: str) -> bool:
        if self.keypad_events:
            self.pressed.append(digits)
        return self.keypad_events

    async def collect_digits(self, *, max_digits: int, terminator: str, timeout_s: float) -> str:
        self.collect_requests.append(
            {"max_digits": max_digits, "terminator": terminator, "timeout_s": timeout_s}
        )
        await asyncio.sleep(0)
        return self.digits


async def make_tenant(database: Database) -> str:
    async with database.writing() as session:
        tenant = Tenant(name=f"t-{secrets.token_hex(5)}", max_concurrent_calls=10)
        session.add(tenant)
        await session.flush()
        return tenant.id


async def make_agent(database: Database, tenant_id: str, config: dict[str, Any]) -> AgentVersion:
    async with database.writing() as session:
        agent = Agent(tenant_id=tenant_id, name=config["name"], latest_version="1.0.0")
        session.add(agent)
        await session.flush()
        version = AgentVersion(
            tenant_id=tenant_id, agent_id=agent.id, version="1.0.0", config=config
        )
        session.add(version)
        await session.flush()
        agent.published_version_id, agent.published_version = version.id, "1.0.0"
        return version


async def make_call(
    database: Database,
    tenant_id: str,
    version: AgentVersion | None = None,
    *,
    lines: list[tuple[str, str]] = (),  # type: ignore[assignment]
    ended_reason: str | None = "agent-ended",
    number: PhoneNumber | None = None,
) -> str:
    """A call (ended when ``ended_reason``), with transcript lines and a turn per caller line."""
    async with database.writing() as session:
        call = Call(
            tenant_id=tenant_id,
            call_sid="CA" + secrets.token_hex(16),
            agent_id=version.agent_id if version else None,
            agent_version=version.version if version else None,
            agent_version_id=version.id if version else None,
            phone_number_id=number.id if number else None,
            from_number=CALLER,
            to_number=OUR_NUMBER,
            status="completed" if ended_reason else "in-progress",
            ended_reason=ended_reason,
        )
        session.add(call)
        await session.flush()
        caller_turns = 0
        for seq, (speaker, text) in enumerate(lines, start=1):
            session.add(
                TranscriptLine(
                    tenant_id=tenant_id, call_id=call.id, seq=seq, speaker=speaker, text=text
                )
            )
            if speaker == "caller":
                session.add(
                    Turn(tenant_id=tenant_id, call_id=call.id, index=caller_turns, user_text=text)
                )
                caller_turns += 1
        return call.id


async def make_number(
    database: Database, tenant_id: str, agent_id: str, *, type_: str, data: dict[str, Any]
) -> PhoneNumber:
    async with database.writing() as session:
        number = PhoneNumber(
            tenant_id=tenant_id,
            e164=OUR_NUMBER,
            type=type_,
            agent_id=agent_id,
            region="us-east-1",
            provisioning="external",
            provider_data=data,
        )
        session.add(number)
        await session.flush()
        return number
