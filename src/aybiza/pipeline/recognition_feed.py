"""Caller audio on its way to the recogniser, in as few messages as recognition allows.

Twilio delivers a 20 ms frame fifty times a second for the whole call, and every message to
the recogniser costs a socket write (and, on a WebSocket, a random mask) on the event loop:
at hundreds of calls per core these sends were a sixth of the server's CPU. How long a frame
may wait depends on what the VAD hears (``hold_ms``, with the server's ``SttBatching``:
``AYBIZA_STT_BATCH_QUIET_MS`` and ``AYBIZA_STT_BATCH_SPEECH_MS``, docs/configuration.md):

- the caller is quiet: the recogniser needs the audio (to find where speech starts) but not at
  once, so frames go out 100 ms at a time by default;
- the caller is speaking: 60 ms at a time by default. Only interim results wait for this, never
  the end of the turn: the recogniser's endpointing counts the silence after the last word in
  audio time, and that silence is sent frame by frame;
- the caller has just stopped (the VAD's trailing silence, and the frame that ends the
  utterance): at once, with anything held before it, so nothing that decides when the caller
  stopped waits in a buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

from aybiza.audio.codec import FRAME_BYTES, FRAME_MS
from aybiza.pipeline.vad import VadState
from aybiza.providers.base import SttStream

QUIET_HOLD_MS = 100
SPEECH_HOLD_MS = 60
MAX_HOLD_MS = 1000


@dataclass(frozen=True, slots=True)
class SttBatching:
    """How long caller frames may wait to go out together, while the caller is quiet and while
    they speak (multiples of 20 ms; 0 or 20: every frame on its own)."""

    quiet_ms: int = QUIET_HOLD_MS
    speech_ms: int = SPEECH_HOLD_MS

    def __post_init__(self) -> None:
        for name, value in (("quiet_ms", self.quiet_ms), ("speech_ms", self.speech_ms)):
            if not 0 <= value <= MAX_HOLD_MS or value % FRAME_MS:
                raise ValueError(
                    f"{name}: expected a multiple of {FRAME_MS} ms from 0 to {MAX_HOLD_MS}, "
                    f"got {value}"
                )


DEFAULT_BATCHING = SttBatching()


def hold_ms(state: VadState, batching: SttBatching = DEFAULT_BATCHING) -> int:
    """How long the frame the VAD just classified may wait before it is sent."""
    if state.ended or (state.speaking and state.silence_ms > 0):
        return 0
    return batching.speech_ms if state.speaking else batching.quiet_ms


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
