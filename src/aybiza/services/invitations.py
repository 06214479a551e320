"""Invitations: a tenant's admin invites an email address with a role; the link (shown to the
inviter in development, printed by ``aybiza users invite``) lets that person set a password
and join. The token is random and stored hashed; it works once, until it expires."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update

from aybiza.config import AccessSettings
from aybiza.errors import Conflict, NotFound, Unauthenticated
from aybiza.security.passwords import hash_password, verify_password
from aybiza.security.tokens import new_token, token_hash
from aybiza.services.people import (
    EVERYTHING,
    check_password,
    check_role,
    may_assign,
    normal_email,
    user_by_email,
)
from aybiza.store.audit_log import Actor, acting
from aybiza.store.database import Database
from aybiza.store.models import utcnow
from aybiza.store.paging import Page
from aybiza.store.people_models import Invitation, Membership, User
from aybiza.store.tenant_repository import TenantRepository


@dataclass(frozen=True, slots=True)
class Invited:
    """A new invitation and its token (in clear only here, for the link)."""

    row: Invitation
    token: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """Who joined which tenant."""

    user_id: str
    tenant_id: str


class Invitations:
    """Invite, list, revoke, accept; ``clock`` is the time (tests move it)."""

    def __init__(
        self, database: Database, settings: AccessSettings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._database = database
        self._ttl = timedelta(seconds=settings.invitation_ttl_s)
        self._rows = TenantRepository(
            database, Invitation, lambda ref: NotFound(f"no invitation {ref!r}", field="id")
        )
        self.clock = clock

    async def invite(
        self,
        tenant_id: str,
        email: str,
        role: str,
        *,
        by: frozenset[str] = EVERYTHING,
        invited_by: str = "",
    ) -> Invited:
        """Invite ``email`` as ``role``; an earlier pending invitation of theirs is revoked."""
        address, wanted = normal_email(email), check_role(role)
        may_assign(by, wanted)
        token, now = new_token(), self.clock()
        async with self._database.writing() as session:
            user = await user_by_email(session, address)
            if user is not None:
                member = await session.execute(
                    select(Membership.id).where(
                        Membership.user_id == user.id, Membership.tenant_id == tenant_id
                    )
                )
                if member.first() is not None:
                    raise Conflict(f"{address} is already a member", field="email", code="member")
            await session.execute(
                update(Invitation)
                .where(*_pending(tenant_id, now), Invitation.email == address)
                .values(revoked_at=now)
            )
            row = self._rows.add(
                session,
                tenant_id,
                Invitation(
                    email=address,
                    role=wanted.value,
                    token_hash=token_hash(token),
                    invited_by=invited_by[:200],
                    created_at=now,
                    expires_at=now + self._ttl,
                ),
            )
        return Invited(row, token)

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[Invitation]:
        """The tenant's pending invitations, newest first."""
        return await self._rows.list(
            tenant_id, *_pending(tenant_id, self.clock()), cursor=cursor, limit=limit
        )

    async def revoke(self, tenant_id: str, invitation_id: str) -> Invitation:
        """Withdraw an invitation: its link stops working."""
        async with self._database.writing() as session:
            row = await self._rows.get(session, tenant_id, invitation_id)
            if row.revoked_at is None and row.accepted_at is None:
                row.revoked_at = self.clock()
            return row

    async def accept(self, token: str, *, password: str, name: str = "") -> Accepted:
        """Join through an invitation. A new person sets ``password``; someone who has an
        account already proves it with theirs."""
        now = self.clock()
        async with self._database.session() as session:
            found = await session.execute(
                select(Invitation).where(Invitation.token_hash == token_hash(token[:200]))
            )
            invitation = found.scalars().first()
            if invitation is None or invitation.accepted_at or invitation.revoked_at:
                raise NotFound("no such invitation, or it was used or withdrawn", field="token")
            if now >= invitation.expires_at:
                raise NotFound("the invitation expired; ask for a new one", field="token")
            user = await user_by_email(session, invitation.email)
        hashed: str | None = None
        if user is not None and user.password_hash:
            if not await asyncio.to_thread(verify_password, user.password_hash, password):
                raise Unauthenticated(
                    f"{invitation.email} has an account: give its password", field="password"
                )
        else:
            check_password(password)
            hashed = await asyncio.to_thread(hash_password, password)
        with acting(Actor("user", invitation.email, role=invitation.role)):
            return await self._join(invitation.id, hashed, name, now)

    async def _join(
        self, invitation_id: str, hashed: str | None, name: str, now: datetime
    ) -> Accepted:
        async with self._database.writing() as session:
            invitation = await session.get(Invitation, invitation_id)
            if invitation is None or invitation.accepted_at or invitation.revoked_at:
                raise NotFound("no such invitation, or it was used or withdrawn", field="token")
            user = await user_by_email(session, invitation.email)
            if user is None:
                user = User(email=invitation.email, name=name[:200])
                session.add(user)
                await session.flush()
            if hashed is not None:
                user.password_hash, user.updated_at = hashed, now
            joined = await session.execute(
                select(Membership.id).where(
                    Membership.user_id == user.id, Membership.tenant_id == invitation.tenant_id
                )
            )
            if joined.first() is None:
                session.add(
                    Membership(
                        tenant_id=invitation.tenant_id, user_id=user.id, role=invitation.role
                    )
                )
            invitation.accepted_at = now
            return Accepted(user.id, invitation.tenant_id)


def _pending(tenant_id: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        Invitation.tenant_id == tenant_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > now,
    )
