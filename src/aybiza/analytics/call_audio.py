"""``CallAudio``: a call's two sides on one timeline, as a stereo WAV (caller left, agent right).

The caller's frames arrive in real time, one every 20 ms, so their count is the call's clock.
Agent audio is sent to the carrier faster than it plays; the carrier queues it and plays it in
order. Each piece is therefore placed where the carrier would start playing it: at the end of
what is already queued, or now if the queue ran dry. A ``clear`` (barge-in) drops whatever was
queued beyond now: the recording holds what the caller actually heard, cut where they
interrupted. Audio is kept as μ-law (8 KB/s per side) until the call ends."""

from __future__ import annotations

import io
import wave

import numpy as np

from aybiza.audio.codec import SAMPLE_RATE_HZ, SILENCE_BYTE, ulaw_to_array

CHANNELS = 2


class CallAudio:
    """The ``AudioTap`` of a recorded call."""

    def __init__(self) -> None:
        self._caller = bytearray()
        self._agent = bytearray()

    @property
    def now(self) -> int:
        """Samples of the call so far (the caller's clock)."""
        return len(self._caller)

    def caller(self, frame: bytes) -> None:
        self._caller += frame

    def agent(self, mulaw: bytes) -> None:
        if len(self._agent) < self.now:
            self._agent += bytes([SILENCE_BYTE]) * (self.now - len(self._agent))
        self._agent += mulaw

    def cleared(self) -> None:
        del self._agent[self.now :]

    @property
    def samples(self) -> int:
        """Length of the recording: the call, or the agent's last sound if it played on."""
        return max(len(self._caller), len(self._agent))

    @property
    def duration_s(self) -> float:
        return round(self.samples / SAMPLE_RATE_HZ, 3)

    def wav(self) -> bytes:
        """The recording: 16-bit PCM, 8 kHz, stereo (left the caller, right the agent)."""
        total = self.samples
        stereo = np.zeros((total, CHANNELS), dtype="<i2")
        stereo[: len(self._caller), 0] = ulaw_to_array(bytes(self._caller))
        stereo[: len(self._agent), 1] = ulaw_to_array(bytes(self._agent))
        out = io.BytesIO()
        with wave.open(out, "wb") as writer:
            writer.setnchannels(CHANNELS)
            writer.setsampwidth(2)
            writer.setframerate(SAMPLE_RATE_HZ)
            writer.writeframes(stereo.tobytes())
        return out.getvalue()
