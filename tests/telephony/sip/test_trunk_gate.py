"""``TrunkGate`` on a real database: the digest challenge a trunk's calls get follows the
trunk's ``auth.algorithms`` (an old PBX may read only the first challenge), and an answer in an
algorithm the trunk does not take is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Agent, PhoneNumber, Tenant
from aybiza.telephony.sip.digest import Challenge, NonceIssuer, authorize
from aybiza.telephony.sip.message import Request, parse
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.trunk_gate import Allowed, Denied, TrunkGate

PASSWORD = "s3cret"
PEER = Peer("UDP", "127.0.0.1", 5062)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'aybiza.db'}")
    await upgrade_to_head(database)
    try:
        yield database
    finally:
        await database.dispose()


async def trunk(database: Database, e164: str, algorithms: list[str] | None) -> None:
    auth: dict[str, object] = {"username": "pbx"}
    if algorithms is not None:
        auth["algorithms"] = algorithms
    async with database.writing() as session:
        tenant = Tenant(name=f"tenant-{e164}")
        session.add(tenant)
        await session.flush()
        agent = Agent(tenant_id=tenant.id, name="agent", latest_version="1.0.0")
        session.add(agent)
        await session.flush()
        sip = {"gateways": ["127.0.0.1:5070"], "allowed_cidrs": [], "auth": auth}
        session.add(
            PhoneNumber(tenant_id=tenant.id, e164=e164, type="sip_trunk", agent_id=agent.id,
                        region="us-east-1", sip=sip, provisioning="external")
        )  # fmt: skip


def invite(e164: str, authorization: str | None = None) -> Request:
    extra = f"Authorization: {authorization}\r\n" if authorization else ""
    message = parse(
        (
            f"INVITE sip:{e164}@127.0.0.1:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-gate-1\r\n"
            "From: <sip:pbx@127.0.0.1:5062>;tag=1\r\n"
            f"To: <sip:{e164}@127.0.0.1:5060>\r\n"
            "Call-ID: gate-1@127.0.0.1\r\n"
            "CSeq: 2 INVITE\r\n"
            f"{extra}Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, Request)
    return message


def challenges(denied: Allowed | Denied) -> list[Challenge]:
    assert isinstance(denied, Denied) and denied.status == 401, denied
    return [Challenge.parse(value) for name, value in denied.headers if name == "WWW-Authenticate"]


def answer(challenge: Challenge, e164: str, password: str = PASSWORD) -> str:
    credentials = authorize(
        challenge, username="pbx", password=password, method="INVITE",
        uri=f"sip:{e164}@127.0.0.1:5060",
    )  # fmt: skip
    return str(credentials)


def gate(database: Database) -> TrunkGate:
    return TrunkGate(database, lambda _: PASSWORD, NonceIssuer(b"k" * 32), realm="127.0.0.1")


async def test_a_trunk_is_challenged_sha256_first_then_md5_by_default(database: Database) -> None:
    await trunk(database, "+15550002001", None)
    offered = challenges(await gate(database).check(invite("+15550002001"), PEER))
    assert [challenge.algorithm for challenge in offered] == ["SHA-256", "MD5"]


async def test_a_trunk_set_to_md5_is_challenged_with_md5_alone_and_its_answer_is_taken(
    database: Database,
) -> None:
    await trunk(database, "+15550002002", ["MD5"])
    checker = gate(database)
    (offered,) = challenges(await checker.check(invite("+15550002002"), PEER))
    assert offered.algorithm == "MD5"
    taken = await checker.check(invite("+15550002002", answer(offered, "+15550002002")), PEER)
    assert isinstance(taken, Allowed)
    wrong = answer(offered, "+15550002002", password="wrong")
    refused = await checker.check(invite("+15550002002", wrong), PEER)
    assert isinstance(refused, Denied) and refused.status == 403


async def test_an_answer_in_an_algorithm_the_trunk_does_not_take_is_refused(
    database: Database,
) -> None:
    await trunk(database, "+15550002003", ["SHA-256"])
    checker = gate(database)
    (offered,) = challenges(await checker.check(invite("+15550002003"), PEER))
    assert offered.algorithm == "SHA-256"
    downgraded = Challenge(offered.realm, offered.nonce, "MD5", offered.qop)
    refused = await checker.check(invite("+15550002003", answer(downgraded, "+15550002003")), PEER)
    assert isinstance(refused, Denied) and refused.status == 403
    assert "MD5" in refused.reason
