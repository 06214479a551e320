"""The call loop's ``MediaConnection`` over one call's RTP endpoint.

Audio, marks and clear go straight to the ``RtpEndpoint`` (no JSON, no base64: the μ-law bytes
the loop made are the RTP payload, or translated by table to A-law); ``send_clear`` tells the
loop exactly which queued bytes never left, so a paused answer resumes from the first sample
the caller did not get. ``close`` asks the SIP call
to end its dialog. ``MediaRelay`` is the endpoint's listener: inbound frames, digits and marks
reach the call loop once it exists; before that (the 200 OK is on its way) they are dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from aybiza.telephony.sip.dtmf import DtmfError
from aybiza.telephony.sip.media import MediaListener, RtpEndpoint


class MediaRelay:
    """Forwards the endpoint's media to the call loop, once it is attached."""

    def __init__(self) -> None:
        self.target: MediaListener | None = None

    async def on_audio(self, frame: bytes) -> None:
        if self.target is not None:
            await self.target.on_audio(frame)

    async def on_dtmf(self, digit: str) -> None:
        if self.target is not None:
            await self.target.on_dtmf(digit)

    def on_mark(self, name: str) -> None:
        if self.target is not None:
            self.target.on_mark(name)


class SipMediaConnection:
    """``MediaConnection`` of a SIP call; ``hang_up`` is called once, on ``close``."""

    def __init__(self, endpoint: RtpEndpoint, hang_up: Callable[[str], None]) -> None:
        self._endpoint = endpoint
        self._hang_up = hang_up
        self.closed = False

    async def send_media(self, mulaw: bytes) -> None:
        if not self.closed:
            self._endpoint.send_audio(mulaw)

    async def send_mark(self, name: str) -> None:
        if not self.closed:
            self._endpoint.mark(name)

    async def send_clear(self) -> dict[str, int] | None:
        """Stop sending the agent's audio now; for each mark dropped, the bytes before it that
        never left (the caller got everything else: RTP has no queue beyond ours)."""
        if self.closed:
            return None
        return self._endpoint.clear()

    async def send_digits(self, digits: str) -> bool:
        """Send digits as RFC 4733 events and return once they have gone out; False when the
        far end did not accept telephone-event (the caller then plays them as tones)."""
        if self.closed:
            return True
        try:
            sent = self._endpoint.send_dtmf(digits)
        except DtmfError:
            return False
        await sent
        return True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self._hang_up(reason)
