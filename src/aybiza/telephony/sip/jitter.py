"""The receive jitter buffer: RTP payloads in, in any order; one 20 ms frame out per tick.

Playout follows RTP timestamps, not arrival: the frame played at each tick is the audio whose
timestamps come next, so reordering, any packet size (20 or 30 ms) and the far end's silences
all fall out of the same rule. The buffer holds a target depth (how far the newest audio runs
ahead of the playout point), which adapts within bounds:

- a packet that arrives after its playout (late) raises the target by one frame, and the next
  tick repeats a frame to make room (a stretch);
- after ``relax_after_frames`` ticks with nothing late, the target falls by one frame; when the
  buffer then runs deeper than the target (and no deeper than the maximum) for
  ``shrink_after_frames`` ticks in a row, one frame is handed on a tick early (counted in
  ``backlog_frames``), which also absorbs a far-end clock that runs fast. Nothing is dropped to
  shrink: what listens is a recogniser, for which a frame early costs nothing and a frame
  skipped is a piece of a word lost.

A frame with no audio is concealed: the last frame repeated, fading by one ``Concealment`` step
each time, then silence after ``max_repeats``. A marker bit (a talkspurt start) that finds the
buffer empty, or a jump of more than ``resync_ms`` in the far end's timestamps (ahead of the
newest audio received, or back behind the playout point), starts playout afresh at the target
depth. Contiguous audio that arrives in a burst is kept however deep it runs (the receiver's
event loop stalled, or the network released a backlog): ``backlog_frames`` says how much lies
beyond ``max_depth_ms``, for the caller to pop at once. Pure logic, no clock: ``pop`` is the
tick.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from aybiza.audio import codec
from aybiza.telephony.sip.rtp import sequence_delta, timestamp_delta

PutResult = Literal["queued", "duplicate", "late", "overflow"]
_TS_MOD = 1 << 32
_SEEN_WINDOW = 512  # sequence numbers remembered for duplicate detection
_MAX_PACKETS = 256  # packets held at once (a flood of tiny packets cannot grow it further)
_SWEEP_EVERY = 50  # ticks between looks for packets left behind wholly played


@dataclass(frozen=True, slots=True)
class Concealment:
    """How to make up a missing frame: ``fade`` is a 256-byte ``bytes.translate`` table that
    lowers every sample one step; after ``max_repeats`` repeats, ``silence`` is played."""

    fade: bytes
    silence: int
    max_repeats: int = 3


def _ulaw_fade(gain: float) -> bytes:
    faded = (codec.DECODE_TABLE.astype(np.float64) * gain).round().astype(np.int16)
    return bytes(codec.ENCODE_TABLE[faded.view(np.uint16)].tolist())


# Each repeat about 4 dB quieter than the one before.
ULAW_CONCEALMENT = Concealment(fade=_ulaw_fade(0.63), silence=codec.SILENCE_BYTE)


@dataclass(slots=True)
class JitterStats:
    """What the buffer saw. ``concealed_frames`` counts frames made up once audio had started
    (loss, lateness, or the far end pausing); ``played_frames`` frames with real audio."""

    received: int = 0
    duplicates: int = 0
    late: int = 0
    overflow: int = 0
    played_frames: int = 0
    concealed_frames: int = 0
    stretched_frames: int = 0
    early_frames: int = 0
    resyncs: int = 0


@dataclass(slots=True)
class _Adaptation:
    hold: int = 0  # frames still to stretch
    since_late: int = 0
    deep_run: int = 0
    early: int = 0  # frames to hand on ahead of their tick, shrinking the depth


class JitterBuffer:
    """Reorders one RTP stream's payloads and plays them out at a steady 20 ms."""

    def __init__(
        self,
        *,
        frame_samples: int = codec.FRAME_BYTES,
        sample_rate_hz: int = codec.SAMPLE_RATE_HZ,
        min_depth_ms: int = 40,
        max_depth_ms: int = 120,
        initial_depth_ms: int = 60,
        relax_after_frames: int = 500,
        shrink_after_frames: int = 25,
        resync_ms: int = 1000,
        concealment: Concealment = ULAW_CONCEALMENT,
    ) -> None:
        if not min_depth_ms <= initial_depth_ms <= max_depth_ms:
            raise ValueError(
                f"initial_depth_ms must lie in [{min_depth_ms}, {max_depth_ms}]; "
                f"got {initial_depth_ms}"
            )
        per_ms = sample_rate_hz // 1000
        self.frame_samples = frame_samples
        self.stats = JitterStats()
        self._per_ms = per_ms
        self._min = min_depth_ms * per_ms
        self._max = max_depth_ms * per_ms
        self._initial = initial_depth_ms * per_ms
        self._relax_after = relax_after_frames
        self._shrink_after = shrink_after_frames
        self._resync = resync_ms * per_ms
        self._concealment = concealment
        self._silence = bytes([concealment.silence]) * frame_samples
        self.target = self._initial
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new SSRC starts over); statistics and target are kept."""
        self._packets: dict[int, bytes | memoryview] = {}
        self._newest_end = 0
        self._play: int | None = None
        self._last_ts: int | None = None
        self._last_seq: int | None = None
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._last_frame = b""
        self._repeats = 0
        self._adapt = _Adaptation()
        self._sweep_in = _SWEEP_EVERY

    @property
    def target_ms(self) -> int:
        """The depth the buffer currently aims for."""
        return self.target // self._per_ms

    @property
    def buffered_ms(self) -> int:
        """How far the newest audio received runs ahead of the playout point."""
        if self._play is None:
            return 0
        return max(0, self._newest_end - self._play) // self._per_ms

    @property
    def backlog_frames(self) -> int:
        """Frames to pop now, beyond the tick's own: the whole frames buffered beyond
        ``max_depth_ms`` (audio that arrived in a burst, handed on at once rather than played late
        or dropped), and a frame due early when the buffer shrinks to its target."""
        if self._play is None:
            return 0
        beyond = max(0, self._newest_end - self._play - self._max) // self.frame_samples
        return beyond + self._adapt.early

    def put(
        self, sequence: int, timestamp: int, payload: bytes | memoryview, *, marker: bool = False
    ) -> PutResult:
        """Take one packet's payload."""
        self.stats.received += 1
        seq = self._extend_sequence(sequence)
        ts = self._extend_timestamp(timestamp)
        if seq in self._seen or ts in self._packets:
            self.stats.duplicates += 1
            return "duplicate"
        self._remember(seq)
        end = ts + len(payload)
        play = self._play
        if play is None or ts - self._newest_end > self._resync or play - end > self._resync:
            if play is not None:
                self.stats.resyncs += 1
            self._restart(end)
        elif marker and self._newest_end <= play:
            self._restart(end)  # a talkspurt after silence: playout starts afresh from it
        elif end <= play:
            self.stats.late += 1
            self._adapt.since_late = 0
            if self.target < self._max:
                self.target += self.frame_samples
                self._adapt.hold += 1
            return "late"
        if len(self._packets) >= _MAX_PACKETS:
            self.stats.overflow += 1
            return "overflow"
        self._packets[ts] = payload
        self._newest_end = max(self._newest_end, end)
        return "queued"

    def pop(self) -> bytes:
        """The next 20 ms frame: always ``frame_samples`` bytes."""
        play = self._play
        if play is None:
            return self._silence
        adapt = self._adapt
        if adapt.early:
            adapt.early -= 1
        adapt.since_late += 1
        if adapt.since_late >= self._relax_after and self.target > self._min:
            self.target -= self.frame_samples
            adapt.since_late = 0
        if adapt.hold:
            adapt.hold -= 1
            self.stats.stretched_frames += 1
            return self._conceal()
        # Deeper than the target but within the maximum (the far end's clock runs fast, or a
        # late spell is over): now and then a frame is handed on early. A backlog beyond the
        # maximum is popped at once.
        depth = self._newest_end - play
        adapt.deep_run = adapt.deep_run + 1 if self.target < depth <= self._max else 0
        if adapt.deep_run >= self._shrink_after:
            adapt.deep_run = 0
            self.stats.early_frames += 1
            adapt.early += 1
        frame = self._frame_at(play)
        self._play = play + self.frame_samples
        self._sweep_in -= 1
        if self._sweep_in <= 0:
            # Packets wholly played out (an exact hit removes its own): only after a frame
            # pieced together, or every so often, not on every tick.
            self._sweep_in = _SWEEP_EVERY
            for ts in [ts for ts, p in self._packets.items() if ts + len(p) <= self._play]:
                del self._packets[ts]
        return frame

    def _frame_at(self, play: int) -> bytes:
        size = self.frame_samples
        exact = self._packets.get(play)
        if exact is not None and len(exact) == size:
            del self._packets[play]
            return self._played(bytes(exact))  # a bytes payload is returned as is
        self._sweep_in = 0
        out: bytearray | None = None
        covered = 0
        for ts in sorted(self._packets):
            payload = self._packets[ts]
            lo, hi = max(ts, play), min(ts + len(payload), play + size)
            if lo >= hi:
                continue
            if out is None:
                out = bytearray(self._conceal(count=False))
            out[lo - play : hi - play] = payload[lo - ts : hi - ts]
            covered += hi - lo
        if out is None:
            return self._conceal()
        if covered < size and self.stats.played_frames:
            self.stats.concealed_frames += 1
        return self._played(bytes(out))

    def _played(self, frame: bytes) -> bytes:
        self.stats.played_frames += 1
        self._last_frame, self._repeats = frame, 0
        return frame

    def _conceal(self, *, count: bool = True) -> bytes:
        if count and self.stats.played_frames:
            self.stats.concealed_frames += 1
        if not self._last_frame or self._repeats >= self._concealment.max_repeats:
            return self._silence
        self._repeats += 1
        self._last_frame = self._last_frame.translate(self._concealment.fade)
        return self._last_frame

    def _restart(self, end: int) -> None:
        self._packets.clear()
        self._play = end - self.target
        self._newest_end = end
        self._adapt.hold = 0
        self._adapt.deep_run = 0
        self._adapt.early = 0

    def _extend_sequence(self, sequence: int) -> int:
        last = self._last_seq
        ext = sequence if last is None else last + sequence_delta(sequence, last & 0xFFFF)
        self._last_seq = ext if last is None else max(last, ext)
        return ext

    def _extend_timestamp(self, timestamp: int) -> int:
        last = self._last_ts
        ext = timestamp if last is None else last + timestamp_delta(timestamp, last % _TS_MOD)
        self._last_ts = ext if last is None else max(last, ext)
        return ext

    def _remember(self, seq: int) -> None:
        self._seen.add(seq)
        self._seen_order.append(seq)
        if len(self._seen_order) > _SEEN_WINDOW:
            self._seen.discard(self._seen_order.popleft())
