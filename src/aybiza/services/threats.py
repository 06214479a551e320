"""Threat detection: each finding is an audit event (``security.<kind>``) and a signed
``security.alert`` webhook event for the tenants concerned.

- ``sign_in_lockout``: an account, or a source address, was locked out after failed sign-ins
  (``aybiza.services.sign_in``);
- ``key_new_address_range``: an API key was used from an address range (/24, /48) it had not
  been used from before (its first range is learnt without an alert);
- ``denied_burst``: one source address got ``denied_burst`` answers 401/403 within
  ``denied_window_s`` (counted per server process).

An alert about no tenant in particular (a burst of unknown keys) goes to the platform's audit
chain and the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from aybiza.config import AccessSettings
from aybiza.security.bursts import BurstCounter
from aybiza.security.lockout import address_range
from aybiza.services.tenants import Principal
from aybiza.store.audit_chain import jsonable
from aybiza.store.audit_log import Actor, AuditEntry, record
from aybiza.store.database import Database
from aybiza.store.models import utcnow
from aybiza.store.people_models import KeyAddressRange
from aybiza.store.webhooks import enqueue_event

log = structlog.get_logger(__name__)

SECURITY_ALERT = "security.alert"


class ThreatAlerts:
    """Raises alerts and watches for the patterns above; ``wake`` is the webhook
    dispatcher's (called after an alert was queued)."""

    def __init__(
        self,
        database: Database,
        settings: AccessSettings,
        wake: Callable[[], None] = lambda: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._wake = wake
        self._denied = BurstCounter(settings.denied_burst, settings.denied_window_s, monotonic)
        self._known_ranges: set[tuple[str, str]] = set()

    async def alert(
        self,
        kind: str,
        *,
        tenant_ids: Sequence[str],
        address: str | None,
        subject: Mapping[str, Any],
        details: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> None:
        """Record the finding for each tenant (or the platform) and queue its webhooks."""
        data = {
            "kind": kind,
            "source_address": address,
            "subject": jsonable(dict(subject)),
            "details": jsonable(dict(details or {})),
            "at": jsonable(utcnow()),
        }
        who = actor or Actor("system", "threat-detection", address=address)
        queued = 0
        async with self._database.writing() as session:
            for tenant_id in dict.fromkeys(tenant_ids) or [None]:
                entry = AuditEntry(
                    f"security.{kind}",
                    "security",
                    str(subject.get("id") or subject.get("address") or "") or None,
                    tenant_id,
                    details=data,
                )
                await record(session, entry, who)
                if tenant_id is not None:
                    queued += await enqueue_event(session, tenant_id, SECURITY_ALERT, data)
        log.warning("security.alert", kind=kind, address=address, tenants=list(tenant_ids))
        if queued:
            self._wake()

    async def key_used(self, principal: Principal, address: str | None) -> None:
        """Note the address range an API key is used from; alert on a new one."""
        network = address_range(address or "")
        if principal.key_id is None or network is None:
            return
        known = (principal.key_id, network)
        if known in self._known_ranges:
            return
        seen_before = await self._learn(principal.key_id, network)
        self._known_ranges.add(known)
        if seen_before is not None and seen_before > 0:
            await self.alert(
                "key_new_address_range",
                tenant_ids=[principal.tenant_id],
                address=address,
                subject={"type": "api_key", "id": principal.key_id, "prefix": principal.name},
                details={"network": network, "known_networks": seen_before},
                actor=Actor(
                    "key",
                    principal.name,
                    principal.key_id,
                    ",".join(sorted(principal.scopes)),
                    principal.tenant_id,
                    address,
                ),
            )

    async def denied(self, address: str | None, status: int, tenant_id: str | None) -> None:
        """Count an answer 401/403 to ``address``; alert when they come in a burst."""
        if not address:
            return
        count = self._denied.hit(address)
        if count is None:
            return
        await self.alert(
            "denied_burst",
            tenant_ids=[tenant_id] if tenant_id else [],
            address=address,
            subject={"type": "address", "address": address},
            details={
                "denied": count,
                "window_s": self._denied.window_s,
                "last_status": status,
            },
        )

    async def _learn(self, key_id: str, network: str) -> int | None:
        """Store the range; returns how many ranges the key had before (None: already known,
        perhaps learnt by another process)."""
        try:
            async with self._database.writing() as session:
                exists = await session.execute(
                    select(KeyAddressRange.id).where(
                        KeyAddressRange.key_id == key_id, KeyAddressRange.network == network
                    )
                )
                if exists.first() is not None:
                    return None
                before = (
                    await session.execute(
                        select(func.count(KeyAddressRange.id)).where(
                            KeyAddressRange.key_id == key_id
                        )
                    )
                ).scalar_one()
                session.add(KeyAddressRange(key_id=key_id, network=network))
        except IntegrityError:
            return None
        return int(before)
