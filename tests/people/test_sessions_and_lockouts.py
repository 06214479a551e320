"""Session timeouts, lock-out backoff and TOTP at fixed times, through the services with a
clock the test sets (no waiting, no timed assertions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aybiza.config import AccessSettings
from aybiza.errors import Locked
from aybiza.security.lockout import Backoff, address_range
from aybiza.security.secretbox import SecretBox
from aybiza.security.totp import code_at, matching_step, recovery_code_hash
from aybiza.services.mfa import Mfa
from aybiza.services.people import PeopleService
from aybiza.services.sessions import Sessions, SessionState
from aybiza.services.sign_in_throttles import SignInThrottles
from aybiza.services.tenants import TenantService
from aybiza.store.database import Database

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SETTINGS = AccessSettings(session_idle_s=1800, session_absolute_s=8 * 3600)


class Clock:
    """The time, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def _person(database: Database, role: str = "developer") -> tuple[str, str]:
    tenant = await TenantService(database).ensure_tenant("acme")
    member = await PeopleService(database).add(tenant.id, "ada@example.com", role)
    return member.user.id, tenant.id


async def test_a_session_ends_after_its_idle_time(database: Database) -> None:
    clock = Clock()
    sessions = Sessions(database, SETTINGS, clock)
    user_id, tenant_id = await _person(database)
    started = await sessions.start(user_id, tenant_id, method="password")
    for _ in range(10):
        clock.advance(minutes=29)
        assert await sessions.authenticate(started.token) is not None
    clock.advance(minutes=31)
    assert await sessions.authenticate(started.token) is None


async def test_a_session_ends_at_its_absolute_limit_however_busy(database: Database) -> None:
    clock = Clock()
    sessions = Sessions(database, SETTINGS, clock)
    user_id, tenant_id = await _person(database)
    started = await sessions.start(user_id, tenant_id, method="password")
    while clock.now < START + timedelta(hours=8) - timedelta(minutes=10):
        assert await sessions.authenticate(started.token) is not None
        clock.advance(minutes=20)
    clock.now = START + timedelta(hours=8)
    assert await sessions.authenticate(started.token) is None


async def test_a_session_owes_the_second_factor_its_person_has(
    database: Database, box: SecretBox
) -> None:
    clock = Clock()
    sessions, mfa = Sessions(database, SETTINGS, clock), Mfa(database, box, clock)
    user_id, tenant_id = await _person(database)
    enrollment = await mfa.start_totp(user_id)
    await mfa.confirm_totp(user_id, code_at(enrollment.secret, clock.now))
    started = await sessions.start(user_id, tenant_id, method="password")
    found = await sessions.authenticate(started.token)
    assert found is not None and found.state is SessionState.MFA_REQUIRED
    clock.advance(seconds=30)
    assert await mfa.verify_totp(user_id, code_at(enrollment.secret, clock.now))
    assert not await mfa.verify_totp(user_id, code_at(enrollment.secret, clock.now))
    await sessions.passed_mfa(started.row.id)
    found = await sessions.authenticate(started.token)
    assert found is not None and found.state is SessionState.ACTIVE


def test_totp_matches_the_rfc_6238_test_vectors() -> None:
    # RFC 6238 appendix B, SHA-1 seed "12345678901234567890" (base32 below), 8 digits there;
    # the 6-digit codes are the last six of those.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    vectors = {59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"}
    for unix, code in vectors.items():
        at = datetime.fromtimestamp(unix, UTC)
        assert code_at(secret, at) == code
        step = matching_step(secret, code, at, None)
        assert step == unix // 30
        assert matching_step(secret, code, at, step) is None
        assert matching_step(secret, code, at + timedelta(seconds=90), None) is None
    assert recovery_code_hash("ABCD-efgh ijkl-mnop") == recovery_code_hash("abcdefghijklmnop")


async def test_lockouts_double_with_each_further_failure(database: Database) -> None:
    clock = Clock()
    settings = AccessSettings(sign_in_attempts=3, sign_in_lock_s=30, sign_in_lock_max_s=600)
    throttles = SignInThrottles(database, settings, clock)
    account = "ada@example.com"
    assert await throttles.failed(account, "127.0.0.5") == []
    assert await throttles.failed(account, "127.0.0.5") == []
    started = await throttles.failed(account, "127.0.0.5")
    assert [(lock.scope, lock.failures) for lock in started] == [("account", 3)]
    waits = []
    for _ in range(6):
        with pytest.raises(Locked) as locked:
            await throttles.check(account, "127.0.0.5")
        waits.append(round(locked.value.retry_after_s))
        clock.advance(seconds=locked.value.retry_after_s)
        await throttles.check(account, "127.0.0.5")
        assert await throttles.failed(account, "127.0.0.5") == []
    assert waits == [30, 60, 120, 240, 480, 600]
    await throttles.succeeded(account)
    clock.advance(seconds=600)
    await throttles.check(account, None)


def test_backoff_and_address_ranges() -> None:
    rule = Backoff(free=5, base_s=30, max_s=3600)
    assert rule.lock_for(4) is None
    assert rule.lock_for(5) == timedelta(seconds=30)
    assert rule.lock_for(7) == timedelta(seconds=120)
    assert rule.lock_for(50) == timedelta(seconds=3600)
    assert address_range("127.0.8.77") == "127.0.8.0/24"
    assert address_range("::1") == "::/48"
    assert address_range("::ffff:127.0.0.1") == "127.0.0.0/24"
    assert address_range("not an address") is None
