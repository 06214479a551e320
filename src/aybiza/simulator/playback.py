"""Twilio's playout of the agent's audio, on a wall clock (PROTOCOLS 2.3, 2.5).

Twilio queues whatever audio the application sends and plays it at 8000 bytes/s. A mark is echoed
once the audio queued before it has finished playing; ``clear`` drops the queue and echoes every
pending mark at once. This model is pure bookkeeping on a timeline counted in samples since the
stream opened: callers pass ``now`` (``time.monotonic()`` seconds), so it is exact and testable
without sleeping, and the only I/O, sending the echoes, stays in the client.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from aybiza.audio.codec import SAMPLE_RATE_HZ, SILENCE_BYTE

# Marks due within this much of "now" are echoed now, so float rounding between seconds and
# samples cannot leave a mark waiting for one more sample.
_DUE_TOLERANCE_S = 1e-4


@dataclass(frozen=True, slots=True)
class MarkEcho:
    """A mark to send back: its name, whether a ``clear`` (not playback) released it, and when
    it fell due on the playback timeline (monotonic seconds; not part of equality)."""

    name: str
    cleared: bool
    due_at: float = field(default=0.0, compare=False)


@dataclass(slots=True)
class _PendingMark:
    name: str
    due_sample: int
    cleared: bool = False


@dataclass(slots=True)
class _Segment:
    start_sample: int
    audio: bytes


class TwilioPlayback:
    """The caller's loudspeaker: queued agent audio, the marks waiting on it, and what was heard."""

    def __init__(self, opened_at: float) -> None:
        self.opened_at = opened_at
        self._segments: list[_Segment] = []
        self._end_sample = 0  # where the queued audio ends; never before "now" once played
        self._marks: deque[_PendingMark] = deque()

    def _sample(self, at: float) -> int:
        return max(0, int((at - self.opened_at) * SAMPLE_RATE_HZ))

    def _time(self, sample: int) -> float:
        return self.opened_at + sample / SAMPLE_RATE_HZ

    def add_audio(self, mulaw: bytes, now: float) -> None:
        """Queue audio behind what is already queued; if the queue ran dry it plays from now."""
        if not mulaw:
            return
        start = max(self._sample(now), self._end_sample)
        self._segments.append(_Segment(start, mulaw))
        self._end_sample = start + len(mulaw)

    def add_mark(self, name: str, now: float) -> None:
        """Queue a mark; it is due when the audio queued so far has played (now, if none)."""
        self._marks.append(_PendingMark(name, max(self._end_sample, self._sample(now))))

    def clear(self, now: float) -> int:
        """Drop the audio not yet played and make every pending mark due now, flagged as
        cleared. Returns the number of bytes dropped."""
        cut = self._sample(now)
        dropped = max(0, self._end_sample - cut)
        while self._segments and self._segments[-1].start_sample >= cut:
            self._segments.pop()
        if self._segments:
            last = self._segments[-1]
            if last.start_sample + len(last.audio) > cut:
                last.audio = last.audio[: cut - last.start_sample]
        self._end_sample = min(self._end_sample, cut)
        for mark in self._marks:
            mark.due_sample = cut
            mark.cleared = True
        return dropped

    def pop_due_marks(self, now: float) -> list[MarkEcho]:
        """Remove and return, in order, the marks that are due at ``now``."""
        due: list[MarkEcho] = []
        limit = now + _DUE_TOLERANCE_S
        while self._marks and (
            self._marks[0].cleared or self._time(self._marks[0].due_sample) <= limit
        ):
            mark = self._marks.popleft()
            due.append(MarkEcho(mark.name, mark.cleared, self._time(mark.due_sample)))
        return due

    def next_mark_due(self) -> float | None:
        """When the first pending mark is due (monotonic seconds), or None if there is none."""
        if not self._marks:
            return None
        return self._time(self._marks[0].due_sample)

    @property
    def pending_marks(self) -> int:
        """Marks received but not yet due."""
        return len(self._marks)

    def playing_until(self) -> float:
        """When the queued audio will have finished playing (monotonic seconds)."""
        return self._time(self._end_sample)

    def queued_bytes(self, now: float) -> int:
        """Bytes of audio queued but not yet played at ``now``."""
        return max(0, self._end_sample - self._sample(now))

    def played_audio(self, until: float) -> bytes:
        """What the caller heard from the stream opening until ``until``: the agent's audio where
        it played, μ-law silence in the gaps, nothing of what was still queued after ``until``."""
        length = self._sample(until)
        heard = bytearray([SILENCE_BYTE]) * length
        for segment in self._segments:
            if segment.start_sample >= length:
                break
            audio = segment.audio[: length - segment.start_sample]
            heard[segment.start_sample : segment.start_sample + len(audio)] = audio
        return bytes(heard)
