"""How the SIP load generator's callers hear the agent and what they say, with no I/O: lines
cut into raw μ-law frames, and ``PhonePlayout``, the audible-gap rule for RTP.

Audible gaps, as a phone with a ``JITTER_BUFFER_S`` buffer hears them, by the Twilio figure's
rule (the player runs dry for more than ``AUDIBLE_GAP_S`` inside an answer): after the caller's
last line ended, a packet that arrives more than that after its playout time (its RTP timestamp
on the answer's timeline, anchored on the earliest-arriving packet, plus the buffer), or a
stretch of silence of more than that between the agent's packets (the server had nothing to
send).
"""

from __future__ import annotations

from dataclasses import dataclass

from aybiza.audio.codec import FRAME_BYTES, SILENCE_BYTE
from aybiza.simulator.caller_audio import last_voiced_frame

JITTER_BUFFER_S = 0.060  # a phone's playout delay (AYBIZA's own initial jitter depth)
AUDIBLE_GAP_S = 0.040


@dataclass(frozen=True, slots=True)
class SipLine:
    """One scripted utterance cut into 20 ms μ-law frames (the last padded with silence)."""

    frames: tuple[bytes, ...]
    last_voiced: int


def prepare_sip_line(mulaw: bytes) -> SipLine:
    if not mulaw:
        raise ValueError("a line needs audio")
    count = -(-len(mulaw) // FRAME_BYTES)
    audio = mulaw + bytes([SILENCE_BYTE]) * (count * FRAME_BYTES - len(mulaw))
    frames = tuple(audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES))
    return SipLine(frames, last_voiced_frame(mulaw))


class PhonePlayout:
    """When a phone with a ``JITTER_BUFFER_S`` buffer would play each of the agent's packets,
    and which of them it could not play in time (the audible gaps described above)."""

    __slots__ = ("_anchor", "_first_ts", "_last_ts", "_new_answer", "gaps_s")

    def __init__(self) -> None:
        self.gaps_s: list[float] = []
        self._new_answer = True
        self._anchor = 0.0  # the answer's timeline: arrival minus timestamp offset
        self._first_ts = 0
        self._last_ts = 0

    def new_answer(self) -> None:
        """The caller finished a line: the next audio starts an answer (no gap before it)."""
        self._new_answer = True

    def audio(self, timestamp: int, now: float) -> None:
        """A packet of the agent's audio with RTP ``timestamp`` arrived at ``now``."""
        if self._new_answer:
            self._new_answer = False
            self._first_ts = self._last_ts = timestamp
            self._anchor = now
            return
        silence_s = (((timestamp - self._last_ts) & 0xFFFFFFFF) - FRAME_BYTES) / 8000
        if silence_s > AUDIBLE_GAP_S:
            self.gaps_s.append(silence_s)
        self._last_ts = timestamp
        offset_s = ((timestamp - self._first_ts) & 0xFFFFFFFF) / 8000
        late_s = now - (self._anchor + offset_s)
        if late_s < 0:
            self._anchor = now - offset_s  # earlier than any so far: the timeline moves up
        elif late_s > JITTER_BUFFER_S:
            underrun_s = late_s - JITTER_BUFFER_S
            if underrun_s > AUDIBLE_GAP_S:
                self.gaps_s.append(underrun_s)
            self._anchor = now - offset_s  # the phone's buffer restarts from here
