"""What the call loop needs from a carrier connection (Twilio Media Streams, later SIP/RTP)."""

from __future__ import annotations

from typing import Protocol


class CallTransport(Protocol):
    """Outbound side of a call's media connection. Audio is μ-law 8 kHz."""

    async def send_media(self, mulaw: bytes) -> None:
        """Queue audio for the caller to hear."""

    async def send_mark(self, name: str) -> None:
        """Ask the carrier to echo ``name`` once everything queued before it has played."""

    async def send_clear(self) -> None:
        """Drop all queued audio at once (barge-in)."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """End the media connection (the carrier then runs what follows the stream)."""
