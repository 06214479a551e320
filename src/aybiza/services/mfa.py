"""Second factors: TOTP (RFC 6238) with one-time recovery codes.

Setting up TOTP is two steps: ``start_totp`` makes a secret (sealed at rest) and the
``otpauth://`` URI for the person's app; ``confirm_totp`` with a first good code turns it on and
hands out ten recovery codes, shown once. ``mfa_enabled`` on the person follows whether a
confirmed TOTP or a passkey exists (``refresh_mfa_enabled``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.errors import Conflict, NotFound, invalid
from aybiza.security.secretbox import SecretBox
from aybiza.security.totp import (
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    recovery_code_hash,
)
from aybiza.store.audit_log import AuditEntry, record
from aybiza.store.database import Database
from aybiza.store.models import Tenant, utcnow
from aybiza.store.people_models import Membership, Passkey, RecoveryCode, User


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    """A TOTP secret waiting for its first code: for the person's authenticator app."""

    secret: str
    uri: str


@dataclass(frozen=True, slots=True)
class Factors:
    """Which second factors a person has."""

    totp: bool
    passkeys: int
    recovery_codes_left: int


class Mfa:
    """TOTP and recovery codes of people; ``clock`` is the time (tests fix it)."""

    def __init__(
        self, database: Database, box: SecretBox, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._database = database
        self._box = box
        self.clock = clock

    async def start_totp(self, user_id: str) -> TotpEnrollment:
        """A new secret for the person (replacing one not yet confirmed)."""
        secret = new_totp_secret()
        async with self._database.writing() as session:
            user = await _user(session, user_id)
            if user.totp_confirmed_at is not None:
                raise Conflict(
                    "TOTP is on already; turn it off first", field="totp", code="totp_on"
                )
            user.totp_secret_sealed, user.totp_last_step = self._box.seal(secret), None
            user.updated_at = self.clock()
            return TotpEnrollment(secret, provisioning_uri(secret, user.email))

    async def confirm_totp(self, user_id: str, code: str) -> list[str]:
        """Turn TOTP on with a first good code; returns fresh recovery codes (shown once)."""
        async with self._database.writing() as session:
            user = await _user(session, user_id)
            if user.totp_secret_sealed is None or user.totp_confirmed_at is not None:
                raise Conflict("start setting up TOTP first", field="code", code="no_totp_setup")
            step = matching_step(self._box.open(user.totp_secret_sealed), code, self.clock(), None)
            if step is None:
                raise invalid("code", "not the current code of your authenticator app")
            user.totp_confirmed_at, user.totp_last_step = self.clock(), step
            await refresh_mfa_enabled(session, user)
            return await self._replace_codes(session, user)

    async def verify_totp(self, user_id: str, code: str) -> bool:
        """Whether ``code`` is the person's current TOTP code (each code works once)."""
        async with self._database.writing() as session:
            user = await _user(session, user_id)
            if user.totp_secret_sealed is None or user.totp_confirmed_at is None:
                return False
            secret = self._box.open(user.totp_secret_sealed)
            step = matching_step(secret, code, self.clock(), user.totp_last_step)
            if step is None:
                return False
            user.totp_last_step = step
            return True

    async def use_recovery_code(self, user_id: str, code: str) -> bool:
        """Whether ``code`` is one of the person's unused recovery codes (it is used up)."""
        async with self._database.writing() as session:
            found = await session.execute(
                select(RecoveryCode).where(
                    RecoveryCode.user_id == user_id,
                    RecoveryCode.code_hash == recovery_code_hash(code),
                    RecoveryCode.used_at.is_(None),
                )
            )
            row = found.scalars().first()
            if row is None:
                return False
            row.used_at = self.clock()
            await record(session, AuditEntry("user.recovery_code_used", "user", user_id, None))
            return True

    async def new_recovery_codes(self, user_id: str) -> list[str]:
        """Replace the person's recovery codes (the old ones stop working)."""
        async with self._database.writing() as session:
            user = await _user(session, user_id)
            if not user.mfa_enabled:
                raise Conflict("set up a second factor first", field="mfa", code="mfa_off")
            return await self._replace_codes(session, user)

    async def disable_totp(self, user_id: str) -> None:
        """Turn TOTP off; refused while it is the person's only factor and a tenant of theirs
        requires one."""
        async with self._database.writing() as session:
            user = await _user(session, user_id)
            if user.totp_confirmed_at is None:
                raise NotFound("TOTP is not on", field="totp")
            if await _passkeys(session, user.id) == 0 and await requires_mfa(session, user.id):
                raise Conflict(
                    "a tenant of yours requires a second factor: add a passkey first",
                    field="totp",
                    code="mfa_required",
                )
            user.totp_secret_sealed = user.totp_confirmed_at = user.totp_last_step = None
            await refresh_mfa_enabled(session, user)

    async def factors(self, user_id: str) -> Factors:
        """The person's second factors."""
        async with self._database.session() as session:
            user = await _user(session, user_id)
            codes = await session.execute(
                select(func.count(RecoveryCode.id)).where(
                    RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                )
            )
            return Factors(
                user.totp_confirmed_at is not None,
                await _passkeys(session, user_id),
                int(codes.scalar_one()),
            )

    async def _replace_codes(self, session: AsyncSession, user: User) -> list[str]:
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = new_recovery_codes()
        for code in codes:
            session.add(RecoveryCode(user_id=user.id, code_hash=recovery_code_hash(code)))
        await record(session, AuditEntry("user.recovery_codes_created", "user", user.id, None))
        return codes


async def refresh_mfa_enabled(session: AsyncSession, user: User) -> None:
    """Keep ``mfa_enabled`` true exactly while the person has a confirmed TOTP or a passkey."""
    await session.flush()
    enabled = user.totp_confirmed_at is not None or await _passkeys(session, user.id) > 0
    if user.mfa_enabled != enabled:
        user.mfa_enabled = enabled
    user.updated_at = utcnow()


async def requires_mfa(session: AsyncSession, user_id: str) -> bool:
    """Whether any tenant the person belongs to requires a second factor."""
    rows = await session.execute(
        select(Tenant.id)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(Membership.user_id == user_id, Tenant.mfa_required.is_(True))
        .limit(1)
    )
    return rows.first() is not None


async def _passkeys(session: AsyncSession, user_id: str) -> int:
    count = await session.execute(select(func.count(Passkey.id)).where(Passkey.user_id == user_id))
    return int(count.scalar_one())


async def _user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("no such person", field="user")
    return user
