"""A tenant's rows of every kind it owns, a batch at a time, as plain JSON documents (the
tenant data export). Sealed secrets and key hashes are left out: they are of no use outside
this deployment and would only widen what a leaked export gives away; so are blind
indexes of numbers (keyed hashes, searchable only with this deployment's key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import inspect, select

from aybiza.store.audit_chain import jsonable
from aybiza.store.automation_models import (
    CallAnalysis,
    ToolCallRecord,
    ToolDefinition,
    Workflow,
    WorkflowRun,
    WorkflowStep,
)
from aybiza.store.campaign_models import Campaign, CampaignAttempt, CampaignContact, DoNotCall
from aybiza.store.database import Database
from aybiza.store.models import (
    Agent,
    AgentVersion,
    Base,
    Call,
    PhoneNumber,
    TranscriptLine,
    Turn,
    WebhookEndpoint,
)

BATCH = 500
# Each kind as the export names it, in the order it is written (what rows refer to first).
EXPORTED_KINDS: tuple[tuple[str, type[Base]], ...] = (
    ("agent", Agent),
    ("agent_version", AgentVersion),
    ("phone_number", PhoneNumber),
    ("tool", ToolDefinition),
    ("workflow", Workflow),
    ("webhook", WebhookEndpoint),
    ("call", Call),
    ("turn", Turn),
    ("transcript_line", TranscriptLine),
    ("tool_call", ToolCallRecord),
    ("call_analysis", CallAnalysis),
    ("workflow_run", WorkflowRun),
    ("workflow_step", WorkflowStep),
    ("campaign", Campaign),
    ("campaign_contact", CampaignContact),
    ("campaign_attempt", CampaignAttempt),
    ("do_not_call", DoNotCall),
)
_WITHHELD_SUFFIXES = ("_sealed", "key_hash", "_number_index")


def document(row: Base) -> dict[str, Any]:
    """A row's columns as JSON, secrets left out."""
    return {
        attr.key: jsonable(getattr(row, attr.key))
        for attr in inspect(row).mapper.column_attrs
        if not attr.key.endswith(_WITHHELD_SUFFIXES)
    }


async def tenant_rows(
    database: Database, tenant_id: str, model: type[Base], *, batch: int = BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """The tenant's rows of ``model`` in primary key order, ``batch`` per read (each read its
    own short transaction, so a long export holds no lock)."""
    key = inspect(model).primary_key[0]
    tenant = model.__table__.c.tenant_id
    after: str | None = None
    while True:
        query = select(model).where(tenant == tenant_id)
        if after is not None:
            query = query.where(key > after)
        async with database.session() as session:
            rows = list((await session.execute(query.order_by(key).limit(batch))).scalars())
            documents = [document(row) for row in rows]
        if not documents:
            return
        yield documents
        after = getattr(rows[-1], str(key.key))
