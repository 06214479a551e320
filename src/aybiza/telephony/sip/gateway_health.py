"""Keep-alive OPTIONS to the trunks' gateways (RFC 3261 §11): every interval, each gateway of
every ``sip_trunk`` number is asked OPTIONS. Any response means it is up (a 404 or 405 still
proves a live SIP stack); silence means down. The dialler tries gateways that are up (or not yet
asked) before those that are down, keeping the trunk's priority order within each group, so a
dead first gateway costs a call nothing once it has been noticed. ``aybiza_sip_gateway_up``
exports what was seen.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence

import structlog
from prometheus_client import Gauge
from sqlalchemy import select

from aybiza.background import BackgroundLoop
from aybiza.outbound.guard import Refused, Unresolvable
from aybiza.store.database import Database
from aybiza.store.models import PhoneNumber
from aybiza.telephony.sip.dialing import Gateway
from aybiza.telephony.sip.headers import CSeq, NameAddr, new_tag
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.uri import SipUri
from aybiza.telephony.sip.user_agent import SipUserAgent
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

GATEWAY_UP = Gauge(
    "aybiza_sip_gateway_up", "1 when the gateway answered the last OPTIONS.", ["gateway"]
)


class GatewayHealth:
    """Pings every trunk gateway; ``order`` puts the ones that are down last."""

    def __init__(
        self, agent: SipUserAgent, database: Database, *, interval_s: float, wait_s: float = 5.0
    ) -> None:
        self._agent = agent
        self._database = database
        self._wait_s = min(wait_s, interval_s / 2)
        self.down: set[str] = set()
        self._loop = BackgroundLoop("sip-gateway-options", self.ping_all, interval_s=interval_s)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def order(self, gateways: Sequence[Gateway]) -> list[Gateway]:
        """``gateways`` with those seen down moved to the end (priority kept otherwise)."""
        up = [g for g in gateways if str(g) not in self.down]
        return up + [g for g in gateways if str(g) in self.down]

    async def _trunk_gateways(self) -> set[tuple[str, Gateway]]:
        async with self._database.session() as session:
            rows = await session.execute(
                select(PhoneNumber.sip).where(PhoneNumber.type == "sip_trunk")
            )
            trunks = [row for row in rows.scalars() if row]
        found: set[tuple[str, Gateway]] = set()
        for trunk in trunks:
            transport = str(trunk.get("transport") or "udp").upper()
            for text in trunk.get("gateways") or []:
                found.add((transport, Gateway.parse(str(text), transport)))
        return found

    async def ping_all(self) -> None:
        gateways = await self._trunk_gateways()
        results = await asyncio.gather(*(self.ping(t, g) for t, g in gateways))
        for (_, gateway), alive in zip(gateways, results, strict=True):
            name = str(gateway)
            GATEWAY_UP.labels(name).set(1 if alive else 0)
            if alive:
                self.down.discard(name)
            elif name not in self.down:
                self.down.add(name)
                log.warning("sip.gateway_down", gateway=name)

    async def ping(self, transport: str, gateway: Gateway) -> bool:
        """Send one OPTIONS; True when anything answered within the wait."""
        agent = self._agent
        try:
            listener = agent.endpoint.transport(transport)
            addresses = await agent.guard.check_host(gateway.host, gateway.port)
        except (KeyError, Refused, Unresolvable):
            return False
        uri = SipUri(gateway.host, port=gateway.port)
        local = SipUri(listener.sent_by.host, user="aybiza")
        request = Request(
            method="OPTIONS",
            uri=uri,
            via=[listener.via()],
            from_=NameAddr(local).with_tag(new_tag()),
            to=NameAddr(uri),
            call_id=f"{secrets.token_hex(12)}@{listener.sent_by.host}",
            cseq=CSeq(1, "OPTIONS"),
        )
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def on_response(response: Response) -> None:
            if not answered.done():
                answered.set_result(True)

        def on_failure(_: object) -> None:
            if not answered.done():
                answered.set_result(False)

        transaction = agent.endpoint.send_request(
            request,
            Peer(transport, str(addresses[0]), gateway.port),
            on_response=on_response,
            on_failure=on_failure,
        )
        try:
            return await within(answered, self._wait_s)
        except TimeoutError:
            transaction.abandon()
            return False
