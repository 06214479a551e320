"""The caller's microphone: queued utterances cut into 20 ms μ-law frames, silence otherwise.

Twilio sends a 160-byte frame every 20 ms whether or not the caller speaks, so this source always
has a next frame. It also finds where each utterance's speech ends (its last voiced frame),
because synthesized audio often trails off in silence, and latency counts from the end of speech.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

import numpy as np

from aybiza.audio.codec import FRAME_BYTES, SILENCE_BYTE, ulaw_to_array

SILENT_FRAME = bytes([SILENCE_BYTE]) * FRAME_BYTES

# A frame is speech when its RMS exceeds this (int16 scale, about -44 dBFS): above line noise
# and dither, below the quietest consonants of synthesized or recorded speech.
VOICED_RMS = 200.0


def last_voiced_frame(mulaw: bytes) -> int:
    """Index of the last 20 ms frame of ``mulaw`` that holds speech; the last frame if none does."""
    frames = -(-len(mulaw) // FRAME_BYTES)
    padded = mulaw + bytes([SILENCE_BYTE]) * (frames * FRAME_BYTES - len(mulaw))
    samples = ulaw_to_array(padded).astype(np.float32).reshape(frames, FRAME_BYTES)
    rms = np.sqrt(np.mean(samples * samples, axis=1))
    voiced = np.flatnonzero(rms > VOICED_RMS)
    return int(voiced[-1]) if voiced.size else frames - 1


@dataclass(slots=True)
class Utterance:
    """One ``say``: its audio padded to whole frames, where its speech ends, and a future
    resolved when its last frame has been sent."""

    audio: bytes
    last_voiced_frame: int
    sent: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class CallerFrame:
    """The next 20 ms to send, and what sending it completes."""

    audio: bytes
    # Set on the utterance's last voiced frame: once it is sent, the caller has stopped talking.
    speech_ends: Utterance | None = None
    # Set on the utterance's last frame: once it is sent, ``say`` returns.
    utterance_ends: Utterance | None = None


class CallerAudio:
    """Utterances waiting to be spoken, in order, served one frame at a time."""

    def __init__(self) -> None:
        self._queue: deque[Utterance] = deque()
        self._frame_index = 0  # next frame of the utterance at the head of the queue

    def queue(self, mulaw: bytes, sent: asyncio.Future[None]) -> Utterance:
        """Queue ``mulaw`` (non-empty) to be spoken after whatever is already queued."""
        frames = -(-len(mulaw) // FRAME_BYTES)
        audio = mulaw + bytes([SILENCE_BYTE]) * (frames * FRAME_BYTES - len(mulaw))
        utterance = Utterance(audio, last_voiced_frame(mulaw), sent)
        self._queue.append(utterance)
        return utterance

    @property
    def speaking(self) -> bool:
        """Whether an utterance is queued or being sent."""
        return bool(self._queue)

    def next_frame(self) -> CallerFrame:
        """The next frame: the current utterance's, or silence when the caller is quiet."""
        if not self._queue:
            return CallerFrame(SILENT_FRAME)
        utterance = self._queue[0]
        index = self._frame_index
        start = index * FRAME_BYTES
        audio = utterance.audio[start : start + FRAME_BYTES]
        speech_ends = utterance if index == utterance.last_voiced_frame else None
        if start + FRAME_BYTES >= len(utterance.audio):
            self._queue.popleft()
            self._frame_index = 0
            return CallerFrame(audio, speech_ends, utterance)
        self._frame_index = index + 1
        return CallerFrame(audio, speech_ends)

    def abandon(self, error: BaseException) -> None:
        """The call ended: fail every queued utterance's future with ``error``."""
        while self._queue:
            sent = self._queue.popleft().sent
            if not sent.done():
                sent.set_exception(error)
        self._frame_index = 0
