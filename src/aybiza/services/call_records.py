"""Calls as a tenant sees them: filtered lists, full reports with cost, and hanging up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.analytics.cost import PriceTable
from aybiza.analytics.report import call_report
from aybiza.errors import Conflict, NotFound, invalid
from aybiza.services.live_calls import LiveCalls
from aybiza.services.outbound_calls import OutboundCalls
from aybiza.store.calls import CallFilter, call_filters
from aybiza.store.database import Database
from aybiza.store.models import AgentVersion, Call, utcnow
from aybiza.store.paging import Page
from aybiza.store.queries import is_row_id
from aybiza.store.tenant_repository import TenantRepository
from aybiza.store.writer import StoreWriter

CALL_STATUSES = ("queued", "ringing", "in-progress", "completed")


@dataclass(frozen=True, slots=True)
class Hangup:
    """What a hang-up request did: ``ended`` here, or ``requested`` of the process running it."""

    outcome: str
    report: dict[str, Any]


class CallRecords:
    """Read and control the tenant's calls."""

    def __init__(
        self,
        database: Database,
        prices: PriceTable,
        live: LiveCalls,
        writer: StoreWriter,
        carrier: OutboundCalls | None = None,
    ) -> None:
        self._database = database
        self._calls = TenantRepository(
            database, Call, lambda ref: NotFound(f"no call {ref!r}", field="id")
        )
        self._prices = prices
        self._live = live
        self._writer = writer
        self._carrier = carrier

    async def list(
        self, tenant_id: str, where: CallFilter, *, cursor: str | None, limit: int
    ) -> Page[Call]:
        """The tenant's calls matching ``where``, newest first."""
        if where.status is not None and where.status not in CALL_STATUSES:
            raise invalid("status", f"one of {', '.join(CALL_STATUSES)}", where.status)
        if where.agent_id is not None and not is_row_id(where.agent_id):
            raise invalid("agent_id", "not an agent id (32 hex digits)", where.agent_id)
        index = await self._number_index(tenant_id, where.number)
        return await self._calls.list(
            tenant_id, *call_filters(where, index), cursor=cursor, limit=limit
        )

    async def _number_index(self, tenant_id: str, number: str | None) -> str | None:
        """The blind index of a searched number (its calls' numbers are sealed)."""
        keys = self._database.field_keys
        if number is None or keys is None:
            return None
        async with self._database.session() as session:
            return await keys.index_of(session, tenant_id, number)

    async def report(self, tenant_id: str, ref: str) -> dict[str, Any]:
        """The full report of a call, by its id or its carrier call id (Twilio CallSid)."""
        async with self._database.session() as session:
            call = await self._call(session, tenant_id, ref)
            return await call_report(session, call, self._prices)

    async def row(self, tenant_id: str, ref: str) -> Call:
        """The tenant's call by its id or its carrier call id (404 naming ``id`` if none)."""
        async with self._database.session() as session:
            return await self._call(session, tenant_id, ref)

    async def hangup(self, tenant_id: str, ref: str) -> Hangup:
        """End a live call: at once when its loop runs in this process; through its carrier when
        its stream has not started (queued, ringing); otherwise by asking the process that
        runs it (it polls for requests)."""
        async with self._database.session() as session:
            call = await self._call(session, tenant_id, ref)
        if call.ended_at is not None:
            raise Conflict(
                f"the call already ended ({call.ended_reason})", field="id", code="call_not_live"
            )
        if await self._live.hangup(call.id):
            # The end is written by the store writer: wait for it so the report shows it.
            await self._writer.flush()
            outcome = "ended"
        elif call.status != "in-progress" and self._carrier and await self._carrier.end(call):
            outcome = "ended"
        elif call.status != "in-progress":
            # Ringing: the stream has not started; the loop refuses calls that have ended.
            raise Conflict(
                "the call has not connected yet; try again once it is in progress",
                field="id",
                code="call_not_live",
            )
        else:
            async with self._database.writing() as session:
                row = await session.get(Call, call.id)
                if row is not None and row.hangup_requested_at is None:
                    row.hangup_requested_at = utcnow()
            outcome = "requested"
        return Hangup(outcome=outcome, report=await self.report(tenant_id, call.id))

    async def transfer(self, tenant_id: str, ref: str, to: str) -> dict[str, Any]:
        """Send a live call to ``to`` (checked by ``CallTransfer``): its loop ends it as
        ``transferred`` and the carrier connects the caller there, as when the agent calls
        ``transfer_call``. Only a call whose loop runs in this process (Conflict otherwise)."""
        async with self._database.session() as session:
            call = await self._call(session, tenant_id, ref)
        if call.ended_at is not None:
            raise Conflict(
                f"the call already ended ({call.ended_reason})", field="id", code="call_not_live"
            )
        loop = self._live.get(call.id)
        if loop is None:
            raise Conflict(
                "the call is not connected to this server process: transfer it from the one "
                "running it, or hang up",
                field="id",
                code="call_not_here",
            )
        loop.transfer_to = to
        await loop.end("transferred")
        await self._writer.flush()
        return await self.report(tenant_id, call.id)

    async def redacts(self, tenant_id: str, report: dict[str, Any]) -> bool:
        """Whether the agent version that ran the call redacts PII: then only people and keys
        holding ``transcripts:read`` see its transcript (``withheld`` is what the others get)."""
        version_id = (report.get("agent") or {}).get("version_id")
        if not version_id:
            return False
        async with self._database.session() as session:
            version = await session.get(AgentVersion, version_id)
        return (
            version is not None and version.tenant_id == tenant_id and redaction_on(version.config)
        )

    async def _call(self, session: AsyncSession, tenant_id: str, ref: str) -> Call:
        """The tenant's call by our id or by its carrier's id (a Twilio CallSid, a SIP
        Call-ID)."""
        call = await self._calls.find(session, tenant_id, ref) if is_row_id(ref) else None
        if call is None and len(ref) <= 64:
            call = await self._calls.first(session, tenant_id, Call.call_sid == ref)
        if call is None:
            raise self._calls.missing(ref)
        return call


def redaction_on(config: dict[str, Any]) -> bool:
    """An agent configuration asks for PII redaction (``redaction.categories`` not empty,
    issue 13 item 3)."""
    redaction = config.get("redaction")
    return isinstance(redaction, dict) and bool(redaction.get("categories"))


WITHHELD = ["transcript", "turns.text", "tool_calls", "analysis"]


def withheld(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what a caller said or was told (for those lacking
    ``transcripts:read`` when the agent redacts): timings, costs and outcomes stay."""
    turns = [
        {**turn, "user_text": "", "agent_text": "", "heard_text": ""}
        for turn in report.get("turns", [])
    ]
    return {
        **report,
        "transcript": [],
        "turns": turns,
        "tool_calls": [],
        "analysis": None,
        "withheld": WITHHELD,
    }
