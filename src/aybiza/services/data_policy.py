"""A tenant's data policy: its compliance mode and how long call data is kept.

Changes are rows of ``tenants``, so the audit log records each one with its before and after
(``tenant.updated``) like any other change of a tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.compliance import COMPLIANCE_MODES
from aybiza.errors import NotFound, invalid
from aybiza.store.database import Database
from aybiza.store.models import Tenant

# A retention period is at least a day and at most ten years.
MIN_DAYS = 1
MAX_DAYS = 3650


@dataclass(frozen=True, slots=True)
class DataPolicy:
    """What a tenant keeps and how: days for transcripts, events and recordings (None: for
    good)."""

    compliance_mode: str
    transcripts_days: int | None
    events_days: int | None
    recordings_days: int | None = None


def policy_of(tenant: Tenant) -> DataPolicy:
    """The policy a tenant row holds."""
    return DataPolicy(
        tenant.compliance_mode,
        tenant.retention_transcripts_days,
        tenant.retention_events_days,
        tenant.retention_recordings_days,
    )


def _checked_days(field: str, days: int | None) -> int | None:
    if days is not None and not MIN_DAYS <= days <= MAX_DAYS:
        raise invalid(field, f"must be {MIN_DAYS} to {MAX_DAYS} days, or null to keep", days)
    return days


class DataPolicies:
    """Reads and changes tenants' data policies."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, tenant_id: str) -> DataPolicy:
        """The tenant's policy."""
        async with self._database.session() as session:
            return policy_of(await _tenant(session, tenant_id))

    async def set_retention(
        self,
        tenant_id: str,
        *,
        transcripts_days: int | None,
        events_days: int | None,
        recordings_days: int | None = None,
    ) -> DataPolicy:
        """Keep transcripts, events and recordings that many days (None: for good)."""
        transcripts = _checked_days("transcripts_days", transcripts_days)
        events = _checked_days("events_days", events_days)
        recordings = _checked_days("recordings_days", recordings_days)
        async with self._database.writing() as session:
            tenant = await _tenant(session, tenant_id)
            tenant.retention_transcripts_days, tenant.retention_events_days = transcripts, events
            tenant.retention_recordings_days = recordings
            return policy_of(tenant)

    async def set_compliance_mode(self, tenant_id: str, mode: str) -> DataPolicy:
        """Put the tenant under ``mode`` (``none``, ``hipaa`` or ``pci``); calls that start
        from now on follow it."""
        if mode not in COMPLIANCE_MODES:
            raise invalid("compliance_mode", f"must be one of {', '.join(COMPLIANCE_MODES)}", mode)
        async with self._database.writing() as session:
            tenant = await _tenant(session, tenant_id)
            tenant.compliance_mode = mode
            return policy_of(tenant)


async def _tenant(session: AsyncSession, tenant_id: str) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    return tenant
