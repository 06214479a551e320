"""Sign-in sessions: started after a password, an invitation or single sign-on; found by the
cookie's token; ended by sign-out, revocation, idle time or their absolute limit.

A session whose person must pass a second factor (they set one up, or the tenant requires
one) is *partial* until they do: it can only finish the second factor (or set one up).
``last_seen_at`` is written at most once a minute, not on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.config import AccessSettings
from aybiza.errors import NotFound, Unauthenticated
from aybiza.security.permissions import role_permissions
from aybiza.security.tokens import new_token, token_hash
from aybiza.services.tenants import Principal
from aybiza.store.audit_log import Actor, AuditEntry, record
from aybiza.store.database import Database
from aybiza.store.models import Tenant, utcnow
from aybiza.store.people_models import Membership, User, UserSession

_TOUCH_S = 60.0


class SessionState(StrEnum):
    """Where a session stands: usable, or waiting for the second factor."""

    ACTIVE = "active"
    MFA_REQUIRED = "mfa_required"
    MFA_ENROLLMENT_REQUIRED = "mfa_enrollment_required"


@dataclass(frozen=True, slots=True)
class NewSession:
    """A started session: its cookie token and CSRF token, in clear only here."""

    row: UserSession
    token: str
    csrf: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session as a request finds it: the person, the tenant they act for, their role."""

    session: UserSession
    user: User
    tenant: Tenant
    role: str
    state: SessionState
    idle_until: datetime

    def principal(self) -> Principal:
        """The caller for permission checks."""
        return Principal(
            tenant_id=self.tenant.id,
            tenant_name=self.tenant.name,
            key_id=None,
            scopes=role_permissions(self.role),
            user_id=self.user.id,
            role=self.role,
            session_id=self.session.id,
            name=self.user.email,
        )

    def actor(self, address: str | None = None, request: str | None = None) -> Actor:
        """The person as the audit log names them."""
        return Actor(
            "user",
            self.user.email,
            id=self.user.id,
            role=self.role,
            tenant_id=self.tenant.id,
            address=address or self.session.address or None,
            request=request,
        )


def session_state(tenant: Tenant, user: User, mfa_at: datetime | None) -> SessionState:
    """Whether a session of ``user`` in ``tenant`` still owes a second factor."""
    if mfa_at is not None or not (tenant.mfa_required or user.mfa_enabled):
        return SessionState.ACTIVE
    if user.mfa_enabled:
        return SessionState.MFA_REQUIRED
    return SessionState.MFA_ENROLLMENT_REQUIRED


class Sessions:
    """Sessions of people; ``clock`` is the time (tests move it)."""

    def __init__(
        self,
        database: Database,
        settings: AccessSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._idle = timedelta(seconds=settings.session_idle_s)
        self._absolute = timedelta(seconds=settings.session_absolute_s)
        self._touch = timedelta(seconds=min(_TOUCH_S, settings.session_idle_s / 10))
        self.clock = clock

    async def start(
        self,
        user_id: str,
        tenant_id: str,
        *,
        method: str,
        address: str = "",
        user_agent: str = "",
    ) -> NewSession:
        """A new session of the person in the tenant (audited as ``user.signed_in``)."""
        token, csrf, now = new_token(), new_token(), self.clock()
        row = UserSession(
            user_id=user_id,
            tenant_id=tenant_id,
            token_hash=token_hash(token),
            csrf_hash=token_hash(csrf),
            method=method,
            address=address[:64],
            user_agent=user_agent[:200],
            created_at=now,
            last_seen_at=now,
            expires_at=now + self._absolute,
        )
        async with self._database.writing() as session:
            session.add(row)
            user = await session.get(User, user_id)
            role = await _role(session, user_id, tenant_id)
            assert user is not None and role is not None, "sessions start for members only"
            who = Actor("user", user.email, user.id, role, tenant_id, address or None)
            await record(
                session,
                AuditEntry(
                    "user.signed_in", "user", user.id, tenant_id, details={"method": method}
                ),
                who,
            )
        return NewSession(row, token, csrf)

    async def authenticate(self, token: str) -> SignedIn | None:
        """The live session behind a cookie token; None when unknown, revoked, idle too long,
        past its absolute limit, or its person left the tenant."""
        if not token or len(token) > 200:
            return None
        now = self.clock()
        async with self._database.session() as session:
            found = (
                await session.execute(
                    select(UserSession, User, Tenant, Membership.role)
                    .join(User, User.id == UserSession.user_id)
                    .join(Tenant, Tenant.id == UserSession.tenant_id)
                    .join(
                        Membership,
                        (Membership.user_id == User.id) & (Membership.tenant_id == Tenant.id),
                    )
                    .where(
                        UserSession.token_hash == token_hash(token),
                        UserSession.revoked_at.is_(None),
                    )
                )
            ).first()
        if found is None:
            return None
        row, user, tenant, role = found
        if now >= row.expires_at or now >= row.last_seen_at + self._idle:
            return None
        if now - row.last_seen_at >= self._touch:
            await self._touch_session(row.id, now)
            row.last_seen_at = now
        state = session_state(tenant, user, row.mfa_at)
        return SignedIn(row, user, tenant, role, state, row.last_seen_at + self._idle)

    async def passed_mfa(self, session_id: str) -> None:
        """The person proved their second factor in this session."""
        async with self._database.writing() as session:
            row = await session.get(UserSession, session_id)
            if row is not None:
                row.mfa_at = self.clock()

    async def list(self, user_id: str) -> Sequence[UserSession]:
        """The person's live sessions, newest first."""
        now = self.clock()
        async with self._database.session() as session:
            rows = await session.execute(
                select(UserSession)
                .where(
                    UserSession.user_id == user_id,
                    UserSession.revoked_at.is_(None),
                    UserSession.expires_at > now,
                    UserSession.last_seen_at > now - self._idle,
                )
                .order_by(UserSession.created_at.desc(), UserSession.id.desc())
            )
            return list(rows.scalars())

    async def revoke(
        self, user_id: str, session_id: str, *, action: str = "session.revoked"
    ) -> None:
        """End one of the person's sessions (NotFound for anyone else's)."""
        async with self._database.writing() as session:
            row = await session.get(UserSession, session_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"no session {session_id!r}", field="id")
            if row.revoked_at is None:
                row.revoked_at = self.clock()
                entry = AuditEntry(action, "session", row.id, row.tenant_id)
                await record(session, entry)

    async def revoke_others(self, user_id: str, keep: str | None) -> int:
        """End every session of the person but ``keep``; returns how many ended."""
        async with self._database.writing() as session:
            rows = list(
                (
                    await session.execute(
                        select(UserSession).where(
                            UserSession.user_id == user_id,
                            UserSession.revoked_at.is_(None),
                            UserSession.id != (keep or ""),
                        )
                    )
                ).scalars()
            )
            for row in rows:
                row.revoked_at = self.clock()
            if rows:
                entry = AuditEntry(
                    "session.revoked_all",
                    "user",
                    user_id,
                    rows[0].tenant_id,
                    details={"sessions": len(rows)},
                )
                await record(session, entry)
            return len(rows)

    async def switch(self, signed_in: SignedIn, tenant_name: str) -> None:
        """Act for another tenant the person belongs to (NotFound otherwise)."""
        async with self._database.writing() as session:
            rows = await session.execute(
                select(Tenant, Membership.role)
                .join(Membership, Membership.tenant_id == Tenant.id)
                .where(Tenant.name == tenant_name, Membership.user_id == signed_in.user.id)
            )
            found = rows.first()
            if found is None:
                raise NotFound(f"you are not a member of {tenant_name!r}", field="tenant")
            tenant, _role_there = found
            row = await session.get(UserSession, signed_in.session.id)
            assert row is not None
            row.tenant_id = tenant.id
            entry = AuditEntry(
                "user.switched_tenant",
                "user",
                signed_in.user.id,
                tenant.id,
                details={"from": signed_in.tenant.name, "to": tenant.name},
            )
            await record(session, entry, signed_in.actor())

    async def set_challenge(self, session_id: str, challenge: str, ttl_s: float) -> None:
        """Keep a WebAuthn challenge for this session until it is used or ``ttl_s`` passes."""
        async with self._database.writing() as session:
            row = await session.get(UserSession, session_id)
            if row is None:
                raise Unauthenticated("the session ended", field="session")
            row.challenge = challenge
            row.challenge_expires_at = self.clock() + timedelta(seconds=ttl_s)

    async def take_challenge(self, session_id: str) -> str | None:
        """The session's pending challenge, removed (a challenge is answered once)."""
        async with self._database.writing() as session:
            row = await session.get(UserSession, session_id)
            if row is None or row.challenge is None or row.challenge_expires_at is None:
                return None
            challenge, expires = row.challenge, row.challenge_expires_at
            row.challenge = row.challenge_expires_at = None
        return challenge if self.clock() < expires else None

    async def _touch_session(self, session_id: str, now: datetime) -> None:
        async with self._database.writing() as session:
            await session.execute(
                update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
            )


async def _role(session: AsyncSession, user_id: str, tenant_id: str) -> str | None:
    rows = await session.execute(
        select(Membership.role).where(
            Membership.user_id == user_id, Membership.tenant_id == tenant_id
        )
    )
    return rows.scalars().first()


def tenant_choice(
    memberships: Sequence[tuple[Tenant, str]], wanted: str | None
) -> tuple[Tenant, str]:
    """Which of the person's tenants a sign-in acts for: ``wanted`` (a tenant name), else the
    one they joined first. NotFound / Unauthenticated when there is none."""
    if not memberships:
        raise Unauthenticated("you are not a member of any tenant", field="email")
    if wanted is None:
        return memberships[0]
    for tenant, role in memberships:
        if tenant.name == wanted:
            return tenant, role
    raise NotFound(f"you are not a member of {wanted!r}", field="tenant")


async def memberships_of(database: Database, user_id: str) -> list[tuple[Tenant, str]]:
    """The person's tenants and roles, oldest membership first."""
    async with database.session() as session:
        rows = await session.execute(
            select(Tenant, Membership.role)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user_id)
            .order_by(Membership.created_at, Membership.id)
        )
        return [(tenant, role) for tenant, role in rows.all()]
