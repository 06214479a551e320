"""The tenant data export: everything the tenant owns as JSON lines, one object per line
(``{"type": "call", "data": {...}}``), ending with the tenant's audit log, so a tenant can
take its data elsewhere or answer a regulator. Streamed a batch at a time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aybiza.services.audit import AuditLog
from aybiza.services.data_policy import DataPolicies
from aybiza.store.database import Database
from aybiza.store.tenant_rows import EXPORTED_KINDS, tenant_rows

FORMAT = "aybiza.tenant-export.v1"


def _line(kind: str, data: Any) -> str:
    return json.dumps({"type": kind, "data": data}, ensure_ascii=False, sort_keys=True) + "\n"


class TenantExport:
    """Writes one tenant's export."""

    def __init__(self, database: Database, audit: AuditLog) -> None:
        self._database = database
        self._audit = audit
        self._policies = DataPolicies(database)

    async def lines(self, tenant_id: str) -> AsyncIterator[str]:
        """The export: a header line (format and the tenant's data policy), every kind of
        row, then the audit events in chain order."""
        policy = await self._policies.get(tenant_id)
        yield _line(
            "export",
            {
                "format": FORMAT,
                "tenant_id": tenant_id,
                "compliance_mode": policy.compliance_mode,
                "retention": {
                    "transcripts_days": policy.transcripts_days,
                    "events_days": policy.events_days,
                    "recordings_days": policy.recordings_days,
                },
            },
        )
        for kind, model in EXPORTED_KINDS:
            async for batch in tenant_rows(self._database, tenant_id, model):
                for row in batch:
                    yield _line(kind, row)
        async for event in self._audit.export(tenant_id):
            yield _line("audit_event", json.loads(event))
