"""Erasing one caller (a data subject's request under GDPR article 17): every call with the
number, everything said and sent about them, in one transaction, recorded in the audit log by
a keyed digest of the number (the log must not keep what it records was erased)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.errors import Conflict
from aybiza.services.recordings import recording_key
from aybiza.store.audit_log import AuditEntry, current_actor, record
from aybiza.store.caller_data import (
    calls_for_caller,
    campaign_contacts_of,
    erase_caller,
    erase_contacts,
    runs_in_hand,
)
from aybiza.store.database import Database
from aybiza.store.queries import is_live
from aybiza.store.recording_files import RecordingStore

ERASE_REQUEST = "DELETE /v1/callers/{number}"


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure removed: rows per kind, and the audit event that records it."""

    caller_digest: str
    erased: dict[str, int]
    audit_event_id: str


class CallerErasure:
    """``erase(tenant, number)``; ``digest`` turns a number into what the audit log keeps."""

    def __init__(
        self,
        database: Database,
        digest: Callable[[str], str],
        recordings: RecordingStore | None = None,
    ) -> None:
        self._database = database
        self._digest = digest
        self._recordings = recordings

    async def erase(self, tenant_id: str, number: str) -> Erasure:
        """Delete everything the tenant stores about ``number`` (E.164): the calls' recordings
        first, then the rows (calls, campaign contacts) in one transaction. Refuses (409
        ``call_live``) while a call with the caller is still live, and (409
        ``call_processing``) while a workflow run of one is being executed: either would write
        again what was just erased."""
        digest = self._digest(number)
        async with self._database.session() as session:
            call_ids = await self._erasable(session, tenant_id, number)
        recordings = 0
        if self._recordings is not None:
            for call_id in call_ids:
                recordings += await self._recordings.delete(recording_key(tenant_id, call_id))
        async with self._database.writing() as session:
            call_ids = await self._erasable(session, tenant_id, number)
            erased = {"recordings": recordings, **await erase_caller(session, tenant_id, call_ids)}
            # Campaign contacts: the number and its variables, and their attempts (a pending
            # contact is then never called).
            contacts = await campaign_contacts_of(session, tenant_id, number)
            erased |= await erase_contacts(session, contacts)
            entry = AuditEntry(
                "caller.erased",
                "caller",
                digest,
                tenant_id,
                details={"caller_digest": digest, "erased": erased},
            )
            # The request line names the number: the event keeps the route's template instead.
            actor = replace(current_actor(), request=ERASE_REQUEST)
            event_id = await record(session, entry, actor)
        return Erasure(digest, erased, event_id)

    async def _erasable(self, session: AsyncSession, tenant_id: str, number: str) -> list[str]:
        """The caller's calls, once none of them is still being written to."""
        keys = self._database.field_keys
        index = await keys.index_of(session, tenant_id, number) if keys else None
        calls = await calls_for_caller(session, tenant_id, number, index)
        live = [call.id for call in calls if is_live(call)]
        if live:
            raise Conflict(
                f"a call with this caller is still live ({live[0]}): erase once it ends",
                field="number",
                code="call_live",
            )
        call_ids = [call.id for call in calls]
        if await runs_in_hand(session, tenant_id, call_ids):
            raise Conflict(
                "a workflow run of this caller's call (its post-call analysis) is running: "
                "erase once it finishes, in a few seconds",
                field="number",
                code="call_processing",
            )
        return call_ids
