"""Caller audio on its way to the recogniser, in as few messages as recognition allows.

Twilio delivers a 20 ms frame fifty times a second for the whole call, and every message to
the recogniser costs a socket write (and, on a WebSocket, a random mask) on the event loop:
at hundreds of calls per core these sends were a sixth of the server's CPU. How long a frame
may wait depends on what the VAD hears (``hold_ms``):

- the caller is quiet: the recogniser needs the audio (to find where speech starts) but not at
  once, so frames go out 100 ms at a time;
- the caller is speaking: 60 ms at a time. Only interim results wait for this, never the end
  of the turn: the recogniser's endpointing counts the silence after the last word in audio
  time, and that silence is sent frame by frame;
- the caller has just stopped (the VAD's trailing silence, and the frame that ends the
  utterance): at once, with anything held before it, so nothing that decides when the caller
  stopped waits in a buffer.
"""

from __future__ import annotations

from aybiza.audio.codec import FRAME_BYTES, FRAME_MS
from aybiza.pipeline.vad import VadState
from aybiza.providers.base import SttStream

QUIET_HOLD_MS = 100
SPEECH_HOLD_MS = 60


def hold_ms(state: VadState) -> int:
    """How long the frame the VAD just classified may wait before it is sent."""
    if state.ended or (state.speaking and state.silence_ms > 0):
        return 0
    return SPEECH_HOLD_MS if state.speaking else QUIET_HOLD_MS


class RecognitionFeed:
    """Sends one call's caller audio to its ``SttStream``, in order."""

    def __init__(self, stream: SttStream) -> None:
        self._stream = stream
        self._held = b""
        self.messages_sent = 0

    async def push(self, frame: bytes, *, hold_ms: int) -> None:
        """Take one frame that may wait up to ``hold_ms`` (0: send it now, with anything held
        before it)."""
        held = self._held + frame if self._held else frame
        if len(held) >= hold_ms // FRAME_MS * FRAME_BYTES:
            self._held = b""
            self.messages_sent += 1
            await self._stream.send_audio(held)
        else:
            self._held = held

    async def flush(self) -> None:
        """Send whatever is held."""
        if self._held:
            held, self._held = self._held, b""
            self.messages_sent += 1
            await self._stream.send_audio(held)
