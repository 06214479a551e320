"""Twilio's playout of the agent's audio at the caller's end, by byte count: when queued audio
has played and when each mark the agent sent falls due."""

from __future__ import annotations

from collections import deque

from aybiza.audio.codec import SAMPLE_RATE_HZ

# As aybiza.simulator.playback: marks due within this much of "now" are due now.
DUE_TOLERANCE_S = 1e-4


class Speaker:
    """The caller's loudspeaker, as ``aybiza.simulator.playback.TwilioPlayback`` models it but
    counting bytes instead of keeping audio: agent audio plays in arrival order at 8000 bytes/s
    (from its arrival when the queue ran dry), a mark is due when the audio queued before it has
    played, a ``clear`` drops the queue and makes every pending mark due at once.

    ``next_due`` is when the first pending mark falls due (tolerance included), infinity when
    none is pending: the ticker compares it with the time for every caller on every tick."""

    __slots__ = ("_end_sample", "_marks", "next_due", "opened_at")

    def __init__(self, opened_at: float) -> None:
        self.opened_at = opened_at
        self._end_sample = 0
        self._marks: deque[tuple[str, int, bool]] = deque()  # name, due sample, cleared
        self.next_due = float("inf")

    def _sample(self, at: float) -> int:
        return max(0, int((at - self.opened_at) * SAMPLE_RATE_HZ))

    def _time(self, sample: int) -> float:
        return self.opened_at + sample / SAMPLE_RATE_HZ

    def _update_next_due(self) -> None:
        if not self._marks:
            self.next_due = float("inf")
        elif self._marks[0][2]:
            self.next_due = float("-inf")
        else:
            self.next_due = self._time(self._marks[0][1]) - DUE_TOLERANCE_S

    def add_audio(self, byte_count: int, now: float) -> None:
        if byte_count:
            self._end_sample = max(self._sample(now), self._end_sample) + byte_count

    def add_mark(self, name: str, now: float) -> None:
        self._marks.append((name, max(self._end_sample, self._sample(now)), False))
        if len(self._marks) == 1:
            self._update_next_due()

    def clear(self, now: float) -> None:
        cut = self._sample(now)
        self._end_sample = min(self._end_sample, cut)
        if self._marks:
            self._marks = deque((name, cut, True) for name, _, _ in self._marks)
            self.next_due = float("-inf")

    def pop_due(self, now: float) -> list[tuple[str, bool]]:
        """Remove and return, in order, the marks due at ``now``: (name, released by clear)."""
        due: list[tuple[str, bool]] = []
        limit = now + DUE_TOLERANCE_S
        marks = self._marks
        while marks and (marks[0][2] or self._time(marks[0][1]) <= limit):
            name, _, cleared = marks.popleft()
            due.append((name, cleared))
        self._update_next_due()
        return due

    def playing_until(self) -> float:
        """When the queued audio will have finished playing."""
        return self._time(self._end_sample)

    @property
    def pending_marks(self) -> int:
        return len(self._marks)
