"""REGISTER to carriers whose trunks need it (RFC 3261 §10): a ``sip_trunk`` number with
``register: true`` and credentials registers ``sip:USERNAME@GATEWAY`` at its first gateway,
binding it to this server's Contact, answers the registrar's digest challenge, and refreshes
half-way through the granted expiry (or retries after ``RETRY_S`` when refused). The carrier
then sends that trunk's calls to our Contact; the dialled number is read from the
Request-URI or, for registrars that put the account there, from the To header.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from prometheus_client import Gauge
from sqlalchemy import select

from aybiza.background import BackgroundLoop
from aybiza.outbound.guard import Refused, Unresolvable
from aybiza.store.database import Database
from aybiza.store.models import PhoneNumber
from aybiza.telephony.sip.dialing import Gateway, TrunkCredentials, with_credentials
from aybiza.telephony.sip.headers import CSeq, NameAddr, Via, new_tag
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.uri import SipUri
from aybiza.telephony.sip.user_agent import SipUserAgent
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

EXPIRES_S = 3600
RETRY_S = 60.0
REGISTERED = Gauge(
    "aybiza_sip_registered", "1 while the trunk's registration is current.", ["trunk"]
)


@dataclass
class Binding:
    """One trunk's registration: where, as whom, and when it must be renewed."""

    trunk: str
    transport: str
    gateway: Gateway
    credentials: TrunkCredentials
    call_id: str = field(default_factory=lambda: secrets.token_hex(12))
    tag: str = field(default_factory=new_tag)
    cseq: int = 0
    due: float = 0.0
    expires: int | None = None


class Registrations:
    """Keeps every ``register: true`` trunk registered."""

    def __init__(
        self,
        agent: SipUserAgent,
        database: Database,
        password_of: Callable[[PhoneNumber], str | None],
        *,
        wait_s: float = 8.0,
    ) -> None:
        self._agent = agent
        self._database = database
        self._password_of = password_of
        self._wait_s = wait_s
        self.bindings: dict[str, Binding] = {}
        self._loop = BackgroundLoop("sip-register", self.step, interval_s=5.0)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _wanted(self) -> dict[str, Binding]:
        async with self._database.session() as session:
            rows = await session.execute(select(PhoneNumber).where(PhoneNumber.type == "sip_trunk"))
            numbers = list(rows.scalars())
        wanted: dict[str, Binding] = {}
        for number in numbers:
            trunk = number.sip or {}
            auth = trunk.get("auth") or {}
            password = self._password_of(number) if auth else None
            if not trunk.get("register") or not password or not trunk.get("gateways"):
                continue
            transport = str(trunk.get("transport") or "udp").upper()
            gateway = Gateway.parse(str(trunk["gateways"][0]), transport)
            key = f"{auth['username']}@{gateway}"
            wanted[key] = self.bindings.get(key) or Binding(
                key, transport, gateway, TrunkCredentials(str(auth["username"]), str(password))
            )
        return wanted

    async def step(self) -> None:
        self.bindings = await self._wanted()
        now = asyncio.get_running_loop().time()
        due = [b for b in self.bindings.values() if b.due <= now]
        await asyncio.gather(*(self.register(binding) for binding in due))

    async def register(self, binding: Binding) -> bool:
        """Send one REGISTER (answering one challenge); True when the registrar granted it."""
        agent, loop = self._agent, asyncio.get_running_loop()
        try:
            listener = agent.endpoint.transport(binding.transport)
            addresses = await agent.guard.check_host(binding.gateway.host, binding.gateway.port)
        except (KeyError, Refused, Unresolvable) as exc:
            return self._failed(binding, str(exc))
        peer = Peer(binding.transport, str(addresses[0]), binding.gateway.port)
        request = self._request(binding, listener.via(), agent.contact(binding.transport))
        response = await self._send(request, peer)
        if response is not None and response.status in (401, 407):
            retry = with_credentials(request, response, binding.credentials, listener.via())
            if retry is not None:
                binding.cseq = retry.cseq.number
                response = await self._send(retry, peer)
        if response is None or not 200 <= response.status < 300:
            status = "no answer" if response is None else f"{response.status} {response.reason}"
            return self._failed(binding, status)
        granted = _granted_expiry(response)
        binding.expires = granted
        binding.due = loop.time() + max(granted / 2, min(granted - 5, 30))
        REGISTERED.labels(binding.trunk).set(1)
        log.info("sip.registered", trunk=binding.trunk, expires=granted)
        return True

    def _failed(self, binding: Binding, why: str) -> bool:
        binding.due = asyncio.get_running_loop().time() + RETRY_S
        binding.expires = None
        REGISTERED.labels(binding.trunk).set(0)
        log.warning("sip.register_failed", trunk=binding.trunk, why=why)
        return False

    def _request(self, binding: Binding, via: Via, contact: NameAddr) -> Request:
        binding.cseq += 1
        registrar = SipUri(binding.gateway.host, port=binding.gateway.port)
        aor = NameAddr(SipUri(binding.gateway.host, user=binding.credentials.username))
        request = Request(
            method="REGISTER",
            uri=registrar,
            via=[via],
            from_=aor.with_tag(binding.tag),
            to=aor,
            call_id=binding.call_id,
            cseq=CSeq(binding.cseq, "REGISTER"),
            contact=[contact],
        )
        request.headers.add("Expires", str(EXPIRES_S))
        return request

    async def _send(self, request: Request, peer: Peer) -> Response | None:
        done: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

        def on_response(response: Response) -> None:
            if response.status >= 200 and not done.done():
                done.set_result(response)

        def on_failure(_: object) -> None:
            if not done.done():
                done.set_result(None)

        transaction = self._agent.endpoint.send_request(
            request, peer, on_response=on_response, on_failure=on_failure
        )
        try:
            return await within(done, self._wait_s)
        except TimeoutError:
            transaction.abandon()
            return None


def _granted_expiry(response: Response) -> int:
    """The expiry the registrar granted: our Contact's ``expires``, else ``Expires``."""
    for contact in response.contact:
        if contact.expires is not None:
            return max(contact.expires, 10)
    value = response.headers.get("Expires")
    return max(int(value), 10) if value is not None and value.isdigit() else EXPIRES_S
