"""``SipCarrier``: the ``Carrier`` of ``sip_trunk`` numbers (outbound calls through the trunk's
gateways, ending calls that have no loop yet)."""

from __future__ import annotations

from collections.abc import Callable

from aybiza.store.models import PhoneNumber
from aybiza.telephony.carrier import CarrierName, CarrierRefused, Dial
from aybiza.telephony.sip.dialing import TrunkCredentials
from aybiza.telephony.sip.user_agent import SipUserAgent


class SipCarrier:
    """Places and ends the calls of ``sip_trunk`` numbers; ``agent`` is None while SIP is off."""

    name: CarrierName = "sip"

    def __init__(
        self, agent: SipUserAgent | None, password_of: Callable[[PhoneNumber], str | None]
    ) -> None:
        self.agent = agent
        self._password_of = password_of

    def carries(self, number: PhoneNumber) -> bool:
        return number.type == "sip_trunk"

    def origin_problem(self, number: PhoneNumber) -> str | None:
        if self.agent is None:
            return (
                "SIP is off on this server: set AYBIZA_SIP_LISTEN (e.g. "
                "udp:0.0.0.0:5060) to place calls through a SIP trunk"
            )
        trunk = number.sip or {}
        if not trunk.get("gateways"):
            return "the number's SIP trunk has no gateways: add sip.gateways to the number"
        transport = str(trunk.get("transport") or "udp").upper()
        try:
            self.agent.endpoint.transport(transport)
        except KeyError:
            return (
                f"the trunk uses {transport.lower()} but this server does not listen on it: "
                f"add a {transport.lower()}: entry to AYBIZA_SIP_LISTEN"
            )
        return None

    async def place(self, dial: Dial) -> str:
        problem = self.origin_problem(dial.number)
        if problem is not None or self.agent is None:
            raise CarrierRefused(problem or "SIP is off", field="from")
        return await self.agent.dial(dial, self._credentials(dial.number))

    async def hang_up(self, number: PhoneNumber, carrier_call_id: str, *, ringing: bool) -> bool:
        if self.agent is None:
            return False
        await self.agent.hang_up(carrier_call_id)
        return True

    def _credentials(self, number: PhoneNumber) -> TrunkCredentials | None:
        auth = (number.sip or {}).get("auth")
        password = self._password_of(number) if auth else None
        if not auth or password is None:
            return None
        return TrunkCredentials(str(auth["username"]), password)
