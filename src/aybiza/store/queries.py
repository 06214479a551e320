"""Small queries shared by several services: tenant lookups, key lookups, live calls."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.models import ApiKey, Call, Tenant, utcnow

_ROW_ID = re.compile(r"^[0-9a-f]{32}$")

# A call that got TwiML but whose media stream never started stops counting as live after
# this long: Twilio opens the stream within seconds or not at all.
RINGING_HORIZON = timedelta(seconds=60)
# A call placed through the API rings the callee for up to a minute before its stream starts;
# its status callbacks end it sooner when nobody answers.
DIALLING_HORIZON = timedelta(minutes=3)
# A call still "in-progress" after this long was left behind by a crashed process.
IN_PROGRESS_HORIZON = timedelta(hours=6)
LIVE_STATUSES = ("queued", "ringing", "in-progress")


def is_row_id(value: str) -> bool:
    """True for the shape of our ids (32 lowercase hex): anything else cannot match a row, so
    it is answered 404 without a query (and odd bytes never reach the database)."""
    return bool(_ROW_ID.match(value))


async def tenant_by_name(session: AsyncSession, name: str) -> Tenant | None:
    """The tenant called ``name``."""
    rows = await session.execute(select(Tenant).where(Tenant.name == name))
    return rows.scalars().first()


async def active_key(session: AsyncSession, key_hash: str) -> tuple[ApiKey, Tenant] | None:
    """The unrevoked key with this hash and its tenant."""
    rows = await session.execute(
        select(ApiKey, Tenant)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )
    row = rows.first()
    return None if row is None else (row[0], row[1])


async def count_live_calls(
    session: AsyncSession, tenant_id: str, now: datetime | None = None
) -> int:
    """Calls of the tenant that hold a line right now, counted in the database so the limit
    holds across every server process."""
    query = live_calls_query(tenant_id, now or utcnow())
    return int((await session.execute(query)).scalar_one())


def live_calls_query(tenant_id: str, now: datetime) -> Select[int]:
    """The count of ``count_live_calls`` as a statement (to be one column of a larger one)."""
    return select(func.count(Call.id)).where(
        Call.tenant_id == tenant_id,
        Call.ended_at.is_(None),
        or_(
            (Call.status == "ringing") & (Call.created_at > now - RINGING_HORIZON),
            (Call.status.in_(("queued", "ringing")))
            & (Call.direction == "outbound-api")
            & (Call.created_at > now - DIALLING_HORIZON),
            (Call.status == "in-progress") & (Call.created_at > now - IN_PROGRESS_HORIZON),
        ),
    )


def is_live(call: Call, now: datetime | None = None) -> bool:
    """Whether ``call`` holds a line right now, by the rules ``count_live_calls`` counts."""
    now = now or utcnow()
    if call.ended_at is not None:
        return False
    age = now - call.created_at
    if call.status == "in-progress":
        return age < IN_PROGRESS_HORIZON
    if call.status in ("queued", "ringing") and call.direction == "outbound-api":
        return age < DIALLING_HORIZON
    return call.status == "ringing" and age < RINGING_HORIZON


async def lock_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Serialise admissions of one tenant's calls until the transaction ends (PostgreSQL row
    lock; SQLite write transactions are serialised already)."""
    if _dialect(session) == "postgresql":
        await session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())


async def serialize_bootstrap(session: AsyncSession) -> None:
    """Serialise one-time set-up (the demo tenant) across processes starting together."""
    if _dialect(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": 0x41594242})


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    assert bind is not None, "sessions are bound to the database's engine"
    return bind.dialect.name
