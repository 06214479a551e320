"""What the call loop needs from a carrier's media connection (Twilio Media Streams, SIP/RTP,
the browser, the in-process test carrier)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class MediaConnection(Protocol):
    """Outbound side of a call's media connection. Audio is μ-law 8 kHz.

    Inbound, the carrier calls ``CallSession.on_audio`` (20 ms frames), ``on_mark`` and
    ``on_dtmf`` in the order its messages arrive. When ``CallSession.finished`` is set the
    carrier ends its side: hang up, or transfer the caller to ``CallSession.transfer_to``."""

    async def send_media(self, mulaw: bytes) -> None:
        """Queue audio for the caller to hear."""

    async def send_mark(self, name: str) -> None:
        """Ask the carrier to echo ``name`` once everything queued before it has played."""

    async def send_clear(self) -> Mapping[str, int] | None:
        """Drop all queued audio at once (barge-in). A carrier that knows exactly what left
        (SIP: the server sends the RTP itself) returns, for each mark dropped, how many bytes
        of the audio queued just before it (since the mark before) were never sent; one that
        cannot tell (Twilio, the browser) returns None, and the play position is estimated
        from the echoed marks."""

    async def send_digits(self, digits: str) -> bool:
        """Press keypad ``digits`` (0-9, *, #, A-D) in the carrier's own signalling (RFC 4733
        telephone events on SIP) and return once they have been sent; False, sending nothing,
        when the carrier has none for this call (Twilio Media Streams: the caller plays them
        as tones instead)."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """End the media connection (the carrier then runs what follows the media)."""
