"""Caller audio on its way to the recogniser: every frame while the caller speaks, batched
while they are quiet.

Twilio delivers a 20 ms frame fifty times a second for the whole call, and most of a call is
the caller listening. A recogniser needs those quiet stretches (to find where speech starts and
ends) but not fifty messages a second of them, so while the VAD hears no speech the frames are
held and sent ``hold_ms`` at a time. When speech starts the held audio goes out at once, ahead
of the frame that started it, and from then until the turn ends every frame goes straight out,
so nothing that decides when the caller stopped waits in a buffer.
"""

from __future__ import annotations

from aybiza.audio.codec import FRAME_BYTES, FRAME_MS
from aybiza.providers.base import SttStream

DEFAULT_HOLD_MS = 100


class RecognitionFeed:
    """Sends one call's caller audio to its ``SttStream``."""

    def __init__(self, stream: SttStream, *, hold_ms: int = DEFAULT_HOLD_MS) -> None:
        if hold_ms < FRAME_MS:
            raise ValueError(f"hold_ms must be at least {FRAME_MS}, got {hold_ms}")
        self._stream = stream
        self._hold_bytes = hold_ms // FRAME_MS * FRAME_BYTES
        self._held = b""
        self.messages_sent = 0

    async def push(self, frame: bytes, *, caller_speaking: bool) -> None:
        """Take one frame. ``caller_speaking``: the VAD is inside an utterance (or has just
        ended one), so the frame goes out now with anything held before it."""
        held = self._held + frame if self._held else frame
        if caller_speaking or len(held) >= self._hold_bytes:
            self._held = b""
            self.messages_sent += 1
            await self._stream.send_audio(held)
        else:
            self._held = held

    async def flush(self) -> None:
        """Send whatever is held (before asking the recogniser to finalize)."""
        if self._held:
            held, self._held = self._held, b""
            self.messages_sent += 1
            await self._stream.send_audio(held)
