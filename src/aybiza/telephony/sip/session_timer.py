"""Session timers (RFC 4028): a call whose far end vanished without a BYE ends by itself.

The side named ``refresher`` sends a re-INVITE or UPDATE every half interval; the other side
ends the call when no refresh came within the interval (less 32 s, or a third of it). A
``Session-Expires`` below our ``Min-SE`` is refused with 422.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aybiza.telephony.sip.message import Request, Response

MIN_SE_S = 90
DEFAULT_INTERVAL_S = 1800

Headers = list[tuple[str, str]]


def _session_expires(message: Request | Response) -> tuple[int, str | None] | None:
    """``Session-Expires`` (compact ``x``): delta-seconds and the refresher, if any."""
    value = message.headers.get("Session-Expires")
    if value is None:
        return None
    text, *params = value.split(";")
    if not text.strip().isdigit() or len(text.strip()) > 9:
        return None
    refresher = None
    for param in params:
        name, _, given = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = given.strip().lower() or None
    return int(text.strip()), refresher


def _supports_timer(request: Request) -> bool:
    values = request.headers.get_list("Supported") + request.headers.get_list("Require")
    return any(value.strip().lower() == "timer" for value in values)


def too_small(request: Request) -> Headers | None:
    """The headers of a 422 when an INVITE asks for less than ``MIN_SE_S``, else None."""
    asked = _session_expires(request)
    if asked is not None and asked[0] < MIN_SE_S:
        return [("Min-SE", str(MIN_SE_S))]
    return None


def offer_headers() -> Headers:
    """What an initial INVITE of ours asks for."""
    return [("Session-Expires", str(DEFAULT_INTERVAL_S)), ("Min-SE", str(MIN_SE_S))]


class SessionTimer:
    """One dialog's session timer. ``on_expired`` runs when the far end failed to refresh;
    ``refresh`` sends our refresh when we are the refresher."""

    def __init__(
        self,
        on_expired: Callable[[], Awaitable[None]],
        refresh: Callable[[], Awaitable[None]],
    ) -> None:
        self._on_expired = on_expired
        self._refresh = refresh
        self.interval: int | None = None
        self.we_refresh = False
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def answer(self, request: Request) -> Headers:
        """Negotiate from the initial INVITE we answer (we are the UAS); the 2xx's headers."""
        asked = _session_expires(request)
        if asked is None:
            return []
        interval, refresher = asked
        uac_timer = _supports_timer(request)
        if refresher is None:
            refresher = "uac" if uac_timer else "uas"
        self._arm(interval, we_refresh=refresher == "uas")
        headers = [("Session-Expires", f"{interval};refresher={refresher}")]
        if uac_timer:
            headers.append(("Require", "timer"))
        return headers

    def answered(self, response: Response) -> None:
        """Negotiated by the 2xx to an INVITE we sent (we are the UAC)."""
        agreed = _session_expires(response)
        if agreed is not None:
            self._arm(agreed[0], we_refresh=agreed[1] != "uas")

    def refreshed(self, request: Request) -> Headers:
        """The far end refreshed (re-INVITE or UPDATE): restart, and the 2xx's headers."""
        asked = _session_expires(request)
        if asked is None:
            if self.interval is not None:
                self._arm(self.interval, we_refresh=self.we_refresh)
            return []
        interval, refresher = asked
        refresher = refresher or "uac"
        self._arm(interval, we_refresh=refresher == "uas")
        return [("Session-Expires", f"{interval};refresher={refresher}")]

    def request_headers(self) -> Headers:
        """The headers of a refresh we send (we remain the refresher)."""
        interval = self.interval or DEFAULT_INTERVAL_S
        return [("Session-Expires", f"{interval};refresher=uac")]

    def _arm(self, interval: int, *, we_refresh: bool) -> None:
        self.cancel()
        self.interval, self.we_refresh = max(interval, MIN_SE_S), we_refresh
        loop = asyncio.get_running_loop()
        if we_refresh:
            self._handle = loop.call_later(self.interval / 2, self._fire, self._refreshing)
        else:
            delay = self.interval - min(32, self.interval / 3)
            self._handle = loop.call_later(delay, self._fire, self._on_expired)

    async def _refreshing(self) -> None:
        await self._refresh()
        if self.interval is not None and self.we_refresh:
            self._arm(self.interval, we_refresh=True)

    def _fire(self, work: Callable[[], Awaitable[None]]) -> None:
        self._handle = None

        async def run() -> None:
            await work()

        self._task = asyncio.ensure_future(run())

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
