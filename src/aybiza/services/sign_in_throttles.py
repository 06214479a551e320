"""Failed sign-ins per account and per source address, and the lock-outs they earn
(``aybiza.security.lockout.Backoff``), kept in the database so every server process counts
together. Wrong second factors count as failed sign-ins of the account too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.config import AccessSettings
from aybiza.errors import Locked
from aybiza.security.lockout import Backoff
from aybiza.store.database import Database
from aybiza.store.models import utcnow
from aybiza.store.people_models import SignInThrottle


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lock-out that just began: ``scope`` is ``account`` or ``address``."""

    scope: str
    subject: str
    failures: int
    until: datetime


class SignInThrottles:
    """Counts failures and refuses locked subjects; ``clock`` is the time (tests move it)."""

    def __init__(
        self, database: Database, settings: AccessSettings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._database = database
        forget_s = 2 * settings.sign_in_lock_max_s
        self._rules = {
            "account": Backoff(
                settings.sign_in_attempts,
                settings.sign_in_lock_s,
                settings.sign_in_lock_max_s,
                forget_s,
            ),
            "address": Backoff(
                settings.sign_in_address_attempts,
                settings.sign_in_lock_s,
                settings.sign_in_lock_max_s,
                forget_s,
            ),
        }
        self.clock = clock

    async def check(self, account: str, address: str | None) -> None:
        """Locked (429 with Retry-After) while the account or the address is locked out;
        nothing is checked then, so guesses during a lock-out tell nothing."""
        now = self.clock()
        async with self._database.session() as session:
            for scope, subject in _subjects(account, address):
                row = await session.get(SignInThrottle, subject)
                if row is not None and row.locked_until is not None and row.locked_until > now:
                    wait_s = (row.locked_until - now).total_seconds()
                    whose = "this account" if scope == "account" else "this address"
                    raise Locked(
                        f"too many failed sign-ins for {whose}; try again in "
                        f"{max(1, round(wait_s))} s",
                        retry_after_s=wait_s,
                        field="email" if scope == "account" else None,
                    )

    async def failed(self, account: str, address: str | None) -> list[Lockout]:
        """Count a failure; returns the lock-outs it started (each one alerts)."""
        now = self.clock()
        started: list[Lockout] = []
        async with self._database.writing() as session:
            for scope, subject in _subjects(account, address):
                lockout = await self._count(session, scope, subject, now)
                if lockout is not None:
                    started.append(lockout)
        return started

    async def succeeded(self, account: str) -> None:
        """The account signed in: its failures are forgotten."""
        async with self._database.writing() as session:
            await session.execute(
                delete(SignInThrottle).where(SignInThrottle.subject == f"account:{account}")
            )

    async def _count(
        self, session: AsyncSession, scope: str, subject: str, now: datetime
    ) -> Lockout | None:
        rule = self._rules[scope]
        row = await session.get(SignInThrottle, subject)
        if row is None:
            row = SignInThrottle(subject=subject, failures=0, last_failure_at=now)
            session.add(row)
        elif rule.forgotten(row.last_failure_at, now):
            row.failures, row.locked_until = 0, None
        row.failures += 1
        row.last_failure_at = now
        lock = rule.lock_for(row.failures)
        if lock is None:
            return None
        row.locked_until = now + lock
        if row.failures != rule.free:
            return None
        return Lockout(scope, subject.partition(":")[2], row.failures, row.locked_until)


def _subjects(account: str, address: str | None) -> list[tuple[str, str]]:
    subjects = [("account", f"account:{account}")]
    if address:
        subjects.append(("address", f"address:{address}"))
    return subjects
