"""People in tenants: add, list, change a role, remove; the tenant's MFA requirement.

The rules that keep a tenant governable: only someone holding everything (an owner, a ``*``
key, the operator's CLI) may make, unmake or remove an owner; a tenant always keeps one owner;
nobody hands out a role holding more than they hold themselves.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.errors import Conflict, Forbidden, NotFound, invalid
from aybiza.security.passwords import hash_password, password_problem
from aybiza.security.permissions import Permission, Role, role_covers
from aybiza.store.database import Database
from aybiza.store.models import Tenant, utcnow
from aybiza.store.paging import Page
from aybiza.store.people_models import Membership, Passkey, RecoveryCode, User, UserSession
from aybiza.store.tenant_repository import TenantRepository

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
EMAIL = re.compile(rf"^[^@\s\x00-\x1f\x7f]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")
# The operator at the CLI: holds everything, like an owner.
EVERYTHING = frozenset({Permission.ALL.value})


@dataclass(frozen=True, slots=True)
class Member:
    """A person as one tenant sees them."""

    membership: Membership
    user: User


def normal_email(email: str) -> str:
    """The address as stored and compared: trimmed, lower case; Invalid when it is not one."""
    value = email.strip().lower()
    if len(value) > 320 or not EMAIL.match(value):
        raise invalid("email", "an email address (name@example.com)", email)
    return value


def check_role(role: str) -> Role:
    """``role`` as a ``Role``; Invalid naming the roles otherwise."""
    try:
        return Role(role)
    except ValueError:
        raise invalid("role", f"one of {', '.join(r.value for r in Role)}", role) from None


def check_password(password: str) -> None:
    """Invalid (field ``password``) when the password is too weak or too long."""
    problem = password_problem(password)
    if problem is not None:
        raise invalid("password", problem)


def may_assign(held: frozenset[str], role: Role, current: Role | None = None) -> None:
    """Forbidden unless someone holding ``held`` may give ``role`` (to a person whose role is
    ``current``)."""
    touches_owner = Role.OWNER in (role, current)
    if touches_owner and Permission.ALL not in held:
        raise Forbidden("only an owner can make, change or remove an owner", field="role")
    if not role_covers(held, role):
        raise Forbidden(
            f"you cannot give the role {role.value!r}: it holds permissions you lack",
            field="role",
            code="role_exceeded",
        )


class PeopleService:
    """People and their roles; every method is scoped to one tenant."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._memberships = TenantRepository(
            database, Membership, lambda ref: NotFound(f"no person {ref!r} here", field="id")
        )

    async def add(
        self,
        tenant_id: str,
        email: str,
        role: str,
        *,
        password: str | None = None,
        name: str = "",
        by: frozenset[str] = EVERYTHING,
    ) -> Member:
        """Give the person ``email`` (created when new) ``role`` in the tenant; ``password``
        becomes the password of a person who has none (someone who has one keeps it).
        Conflict when they are a member already."""
        address, wanted = normal_email(email), check_role(role)
        may_assign(by, wanted)
        hashed = None
        if password is not None:
            check_password(password)
            hashed = await asyncio.to_thread(hash_password, password)
        async with self._database.writing() as session:
            user = await user_by_email(session, address)
            if user is None:
                user = User(email=address, name=name[:200])
                session.add(user)
                await session.flush()
            elif await self._memberships.first(session, tenant_id, Membership.user_id == user.id):
                raise Conflict(f"{address} is already a member", field="email", code="member")
            if hashed is not None and user.password_hash is None:
                user.password_hash, user.updated_at = hashed, utcnow()
            row = self._memberships.add(
                session, tenant_id, Membership(user_id=user.id, role=wanted.value)
            )
            await session.flush()
            return Member(row, user)

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[Member]:
        """The tenant's people, newest first."""
        async with self._database.session() as session:
            page = await self._memberships.page(session, tenant_id, cursor=cursor, limit=limit)
            users = await _users(session, [m.user_id for m in page.items])
        return Page([Member(m, users[m.user_id]) for m in page.items], page.next_cursor)

    async def get(self, tenant_id: str, user_id: str) -> Member:
        """One person of the tenant, by their user id."""
        async with self._database.session() as session:
            return await self._member(session, tenant_id, user_id)

    async def find(self, tenant_id: str, email: str) -> Member:
        """One person of the tenant, by email."""
        async with self._database.session() as session:
            user = await user_by_email(session, normal_email(email))
            return await self._member(session, tenant_id, user.id if user else "")

    async def change_role(
        self, tenant_id: str, user_id: str, role: str, *, by: frozenset[str] = EVERYTHING
    ) -> Member:
        """Give a person another role; the tenant keeps at least one owner."""
        wanted = check_role(role)
        async with self._database.writing() as session:
            member = await self._member(session, tenant_id, user_id)
            current = Role(member.membership.role)
            may_assign(by, wanted, current)
            if current is Role.OWNER and wanted is not Role.OWNER:
                await _keep_an_owner(session, tenant_id)
            member.membership.role = wanted.value
            return member

    async def remove(
        self, tenant_id: str, user_id: str, *, by: frozenset[str] = EVERYTHING
    ) -> Member:
        """Take a person out of the tenant and end their sessions there."""
        async with self._database.writing() as session:
            member = await self._member(session, tenant_id, user_id)
            current = Role(member.membership.role)
            may_assign(by, current, current)
            if current is Role.OWNER:
                await _keep_an_owner(session, tenant_id)
            await session.execute(
                update(UserSession)
                .where(
                    UserSession.user_id == member.user.id,
                    UserSession.tenant_id == tenant_id,
                    UserSession.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
            await self._memberships.remove(session, member.membership)
            return member

    async def set_mfa_required(
        self, tenant_id: str, required: bool, *, user_id: str | None = None
    ) -> Tenant:
        """Turn the tenant's MFA requirement on or off. A person turning it on must have a
        second factor themselves (or they would lock themselves out of this tenant)."""
        async with self._database.writing() as session:
            tenant = await session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound("no such tenant", field="tenant")
            if required and user_id is not None:
                user = await session.get(User, user_id)
                if user is None or not user.mfa_enabled:
                    raise Conflict(
                        "set up a second factor (TOTP or a passkey) before requiring one",
                        field="mfa_required",
                        code="mfa_not_enrolled",
                    )
            tenant.mfa_required = required
            return tenant

    async def reset_mfa(self, email: str) -> User:
        """Remove a person's second factors (the operator's help for a lost phone); their
        sessions end."""
        async with self._database.writing() as session:
            user = await user_by_email(session, normal_email(email))
            if user is None:
                raise NotFound(f"no person {email!r}", field="email")
            user.totp_secret_sealed = user.totp_confirmed_at = user.totp_last_step = None
            user.mfa_enabled, user.updated_at = False, utcnow()
            for row in (
                await session.execute(select(Passkey).where(Passkey.user_id == user.id))
            ).scalars():
                await session.delete(row)
            for code in (
                await session.execute(select(RecoveryCode).where(RecoveryCode.user_id == user.id))
            ).scalars():
                await session.delete(code)
            await session.execute(
                update(UserSession)
                .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return user

    async def _member(self, session: AsyncSession, tenant_id: str, user_id: str) -> Member:
        membership = await self._memberships.first(
            session, tenant_id, Membership.user_id == user_id
        )
        if membership is None:
            raise self._memberships.missing(user_id)
        user = await session.get(User, membership.user_id)
        assert user is not None, "memberships reference users"
        return Member(membership, user)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The person with this (normalised) address."""
    rows = await session.execute(select(User).where(User.email == email))
    return rows.scalars().first()


async def _users(session: AsyncSession, ids: Sequence[str]) -> dict[str, User]:
    if not ids:
        return {}
    rows = await session.execute(select(User).where(User.id.in_(ids)))
    return {user.id: user for user in rows.scalars()}


async def _keep_an_owner(session: AsyncSession, tenant_id: str) -> None:
    owners = (
        await session.execute(
            select(func.count(Membership.id)).where(
                Membership.tenant_id == tenant_id, Membership.role == Role.OWNER.value
            )
        )
    ).scalar_one()
    if owners <= 1:
        raise Conflict(
            "a tenant needs an owner: make someone else owner first",
            field="role",
            code="last_owner",
        )
