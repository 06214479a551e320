"""Everything stored about one caller of one tenant, found and deleted together.

``calls_for_caller`` is the one way to find a caller's calls (the remote party: the caller of
an inbound call, the callee of one placed through the API), so a change to how caller numbers
are stored (an encrypted column searched through a blind index) is made here once.
``erase_caller`` deletes those calls and everything that hangs off them by the calls' ids
(transcripts, turns, tool calls, analysis, workflow runs and their steps, webhook deliveries),
never by looking into payloads, which may be sealed at rest; it returns the count per kind.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    Executable,
    String,
    and_,
    delete,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.automation_models import (
    CallAnalysis,
    ToolCallRecord,
    WorkflowRun,
    WorkflowStep,
)
from aybiza.store.campaign_models import CampaignAttempt, CampaignContact
from aybiza.store.models import Call, TranscriptLine, Turn, WebhookDelivery, utcnow
from aybiza.store.retention import affected

INBOUND = "inbound"
OUTBOUND = "outbound-api"


def caller_condition(number: str, number_index: str | None = None) -> ColumnElement[bool]:
    """Calls whose remote party is ``number``: numbers sealed at rest are matched by their
    blind index (``number_index``, ``FieldKeys.index_of``), rows written before sealing by
    their plain text (compared as plain strings: a sealed column would seal the number)."""
    caller, callee = type_coerce(Call.from_number, String), type_coerce(Call.to_number, String)
    inbound, outbound = [caller == number], [callee == number]
    if number_index is not None:
        inbound.append(Call.from_number_index == number_index)
        outbound.append(Call.to_number_index == number_index)
    return or_(
        and_(Call.direction == INBOUND, or_(*inbound)),
        and_(Call.direction == OUTBOUND, or_(*outbound)),
    )


async def calls_for_caller(
    session: AsyncSession, tenant_id: str, number: str, number_index: str | None = None
) -> list[Call]:
    """The tenant's calls with ``number`` (E.164) as the caller, oldest first."""
    rows = await session.execute(
        select(Call)
        .where(Call.tenant_id == tenant_id, caller_condition(number, number_index))
        .order_by(Call.created_at, Call.id)
    )
    return list(rows.scalars())


async def runs_in_hand(session: AsyncSession, tenant_id: str, call_ids: Sequence[str]) -> int:
    """Workflow runs of these calls that a process is executing right now (leased): one may
    still write what it computed (a post-call analysis) after an erasure."""
    query = select(func.count(WorkflowRun.id)).where(
        WorkflowRun.tenant_id == tenant_id,
        WorkflowRun.call_id.in_(list(call_ids)),
        WorkflowRun.finished_at.is_(None),
        WorkflowRun.lease_until > utcnow(),
    )
    return int((await session.execute(query)).scalar_one())


async def erase_caller(
    session: AsyncSession, tenant_id: str, call_ids: Sequence[str]
) -> dict[str, int]:
    """Delete the calls ``call_ids`` (the caller's, from ``calls_for_caller``) and everything
    about them. Returns how many rows of each kind went."""
    ids = list(call_ids)
    run_ids = list(
        (
            await session.execute(
                select(WorkflowRun.id).where(
                    WorkflowRun.tenant_id == tenant_id, WorkflowRun.call_id.in_(ids)
                )
            )
        ).scalars()
    )
    statements: list[tuple[str, Executable]] = [
        ("transcript_lines", delete(TranscriptLine).where(TranscriptLine.call_id.in_(ids))),
        ("turns", delete(Turn).where(Turn.call_id.in_(ids))),
        ("tool_calls", delete(ToolCallRecord).where(ToolCallRecord.call_id.in_(ids))),
        ("call_analysis", delete(CallAnalysis).where(CallAnalysis.call_id.in_(ids))),
        ("workflow_steps", delete(WorkflowStep).where(WorkflowStep.run_id.in_(run_ids))),
        ("workflow_runs", delete(WorkflowRun).where(WorkflowRun.id.in_(run_ids))),
        ("webhook_deliveries", delete(WebhookDelivery).where(WebhookDelivery.call_id.in_(ids))),
        ("calls", delete(Call).where(Call.tenant_id == tenant_id, Call.id.in_(ids))),
    ]
    return {kind: await affected(session, statement) for kind, statement in statements}


async def campaign_contacts_of(session: AsyncSession, tenant_id: str, number: str) -> list[str]:
    """The tenant's campaign contacts with ``number``. Their numbers are sealed without an
    index, so each is opened and compared: a scan of the tenant's contacts."""
    rows = await session.execute(
        select(CampaignContact.id, CampaignContact.number).where(
            CampaignContact.tenant_id == tenant_id
        )
    )
    return [contact_id for contact_id, stored in rows if stored == number]


async def erase_contacts(session: AsyncSession, contact_ids: Sequence[str]) -> dict[str, int]:
    """Delete campaign contacts (their number and variables) with their attempts."""
    ids = list(contact_ids)
    statements: list[tuple[str, Executable]] = [
        ("campaign_attempts", delete(CampaignAttempt).where(CampaignAttempt.contact_id.in_(ids))),
        ("campaign_contacts", delete(CampaignContact).where(CampaignContact.id.in_(ids))),
    ]
    return {kind: await affected(session, statement) for kind, statement in statements}
