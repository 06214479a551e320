"""``BrowserCarrier``: the ``Carrier`` of browser test calls. A browser call is always placed by
the person in the browser (``WS /web/call``), never by the platform, and carries no numbers."""

from __future__ import annotations

from aybiza.store.models import PhoneNumber
from aybiza.telephony.carrier import CarrierName, CarrierRefused, Dial

BROWSER_ONLY = (
    "browser calls are placed from the dashboard (Talk to this agent), not through a number"
)


class BrowserCarrier:
    """Places no calls and owns no numbers; a browser call ends when its socket closes."""

    name: CarrierName = "browser"

    def carries(self, number: PhoneNumber) -> bool:
        return False

    def origin_problem(self, number: PhoneNumber) -> str | None:
        return BROWSER_ONLY

    async def place(self, dial: Dial) -> str:
        raise CarrierRefused(BROWSER_ONLY, field="from")

    async def hang_up(self, number: PhoneNumber, carrier_call_id: str, *, ringing: bool) -> bool:
        return False
