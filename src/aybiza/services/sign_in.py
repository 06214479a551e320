"""Signing in with an email and a password, behind the lock-outs of ``SignInThrottles``.

A wrong email and a wrong password get the same answer, after the same work (a dummy argon2
check for an unknown email). A lock-out that begins raises a ``sign_in_lockout`` alert for the
tenants of the account (and the platform, for an address).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aybiza.errors import Invalid, Unauthenticated
from aybiza.security.passwords import hash_password, needs_rehash, verify_password
from aybiza.services.people import normal_email, user_by_email
from aybiza.services.sessions import NewSession, Sessions, memberships_of, tenant_choice
from aybiza.services.sign_in_throttles import SignInThrottles
from aybiza.services.threats import ThreatAlerts
from aybiza.store.audit_log import Actor, AuditEntry, record
from aybiza.store.database import Database
from aybiza.store.people_models import User

WRONG = "wrong email or password"


@dataclass(frozen=True, slots=True)
class Client:
    """Where a sign-in comes from."""

    address: str = ""
    user_agent: str = ""


class SignIn:
    """Password sign-in; ``failed_factor`` counts a wrong second factor the same way."""

    def __init__(
        self,
        database: Database,
        sessions: Sessions,
        throttles: SignInThrottles,
        threats: ThreatAlerts,
    ) -> None:
        self._database = database
        self._sessions = sessions
        self._throttles = throttles
        self._threats = threats

    async def with_password(
        self, email: str, password: str, *, tenant: str | None, client: Client
    ) -> NewSession:
        """A session for the person, in ``tenant`` (a name) or the tenant they joined first."""
        try:
            account = normal_email(email)
        except Invalid:
            account = email.strip().lower()[:320]
        await self._throttles.check(account, client.address)
        async with self._database.session() as session:
            user = await user_by_email(session, account) if "@" in account else None
        hashed = user.password_hash if user is not None else None
        if not await asyncio.to_thread(verify_password, hashed, password):
            await self.failed(account, client, user, reason="password")
            raise Unauthenticated(WRONG, field="password")
        assert user is not None and hashed is not None
        await self._throttles.succeeded(account)
        if needs_rehash(hashed):
            await self._rehash(user.id, password)
        chosen, _role = tenant_choice(await memberships_of(self._database, user.id), tenant)
        return await self._sessions.start(
            user.id,
            chosen.id,
            method="password",
            address=client.address,
            user_agent=client.user_agent,
        )

    async def failed(self, account: str, client: Client, user: User | None, *, reason: str) -> None:
        """Count a failed sign-in (password or second factor), audit it for the person's
        tenants, and alert when it starts a lock-out."""
        lockouts = await self._throttles.failed(account, client.address)
        tenants = (
            [tenant.id for tenant, _ in await memberships_of(self._database, user.id)]
            if user is not None
            else []
        )
        if user is not None:
            who = Actor("user", user.email, user.id, address=client.address or None)
            async with self._database.writing() as session:
                for tenant_id in tenants:
                    entry = AuditEntry(
                        "user.sign_in_failed",
                        "user",
                        user.id,
                        tenant_id,
                        details={"reason": reason},
                    )
                    await record(session, entry, who)
        for lockout in lockouts:
            await self._threats.alert(
                "sign_in_lockout",
                tenant_ids=tenants,
                address=client.address or None,
                subject={"type": lockout.scope, lockout.scope: lockout.subject},
                details={"failures": lockout.failures, "locked_until": lockout.until},
            )

    async def _rehash(self, user_id: str, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, password)
        async with self._database.writing() as session:
            user = await session.get(User, user_id)
            if user is not None:
                user.password_hash = hashed
