"""Voice activity on the caller's 20 ms μ-law frames (webrtcvad on a table-decoded frame).

This runs for every caller frame, fifty times a second per call, so it allocates little: the
frame is decoded into one reusable buffer by two ``bytes.translate`` calls (the low and high
bytes of each 16-bit sample, a C loop each; a numpy lookup costs more on 160 samples than the
lookup itself), and the recent decisions are bits of an int.

Digital silence (every sample exactly zero: μ-law 0xFF or 0x7F) skips webrtcvad once webrtcvad
has itself heard ``GATE_AFTER_FRAMES`` such frames in a row as unvoiced. It would call them
unvoiced too, and they leave its state as it was: before that, a zero frame right after speech
can still be voiced (webrtcvad's hangover) and the first zero frames still move its filters, so
those frames go through it. ``tests/pipeline/test_vad.py`` checks the decisions are the same as
without the gate.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import webrtcvad

from aybiza.audio.codec import DECODE_TABLE, FRAME_BYTES, FRAME_MS, SAMPLE_RATE_HZ

# webrtcvad reads native-endian 16-bit samples.
_LOW_SHIFT, _HIGH_SHIFT = (0, 8) if sys.byteorder == "little" else (8, 0)
_FIRST_BYTE = bytes((int(s) >> _LOW_SHIFT) & 0xFF for s in DECODE_TABLE)
_SECOND_BYTE = bytes((int(s) >> _HIGH_SHIFT) & 0xFF for s in DECODE_TABLE)
_ZERO_CODES = bytes(code for code in range(256) if DECODE_TABLE[code] == 0)
GATE_AFTER_FRAMES = 5


@dataclass(slots=True)
class VadState:
    """Where the caller is: ``speaking`` with ``speech_ms`` so far, or silent for ``silence_ms``."""

    speaking: bool = False
    speech_ms: int = 0
    silence_ms: int = 0
    started: bool = False
    ended: bool = False


class VoiceActivityDetector:
    """Turns per-frame voiced/unvoiced decisions into speech start and end.

    Speech starts after ``start_frames`` voiced frames out of the last ``window`` (a click or
    a single noisy frame does not count), and ends after ``end_silence_ms`` with no voiced frame.
    Time is counted in audio frames, not wall clock, so the decisions do not depend on jitter.
    ``gate``: skip webrtcvad on digital silence (see the module's docstring).
    """

    __slots__ = (
        "_end_silence_ms",
        "_gate",
        "_pcm",
        "_recent",
        "_start_frames",
        "_vad",
        "_window_mask",
        "_zero_run",
        "skipped",
        "state",
    )

    def __init__(
        self,
        *,
        end_silence_ms: int = 500,
        aggressiveness: int = 2,
        start_frames: int = 3,
        window: int = 5,
        gate: bool = True,
    ) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)
        self._end_silence_ms = end_silence_ms
        self._start_frames = start_frames
        self._window_mask = (1 << window) - 1
        self._recent = 0  # bit i: the frame i frames ago was voiced
        self._pcm = bytearray(FRAME_BYTES * 2)
        self._gate = gate
        self._zero_run = 0  # zero frames in a row that webrtcvad (or the gate) found unvoiced
        self.skipped = 0  # frames the gate kept from webrtcvad
        self.state = VadState()

    def voiced(self, frame: bytes) -> bool:
        """webrtcvad's decision on one 20 ms μ-law frame (a frame of another length: no)."""
        if len(frame) != FRAME_BYTES:
            return False
        zero = not frame.translate(None, _ZERO_CODES)
        if zero and self._gate and self._zero_run >= GATE_AFTER_FRAMES:
            self.skipped += 1
            return False
        pcm = self._pcm
        pcm[0::2] = frame.translate(_FIRST_BYTE)
        pcm[1::2] = frame.translate(_SECOND_BYTE)
        voiced: bool = self._vad.is_speech(pcm, SAMPLE_RATE_HZ)
        self._zero_run = self._zero_run + 1 if zero and not voiced else 0
        return voiced

    def feed(self, frame: bytes) -> VadState:
        """Classify one 20 ms μ-law frame and update the state (``started``/``ended`` are
        true only on the frame where the change happened)."""
        voiced = self.voiced(frame)
        state = self.state
        state.started = state.ended = False
        recent = self._recent = ((self._recent << 1) | voiced) & self._window_mask
        if state.speaking:
            state.speech_ms += FRAME_MS
            state.silence_ms = 0 if voiced else state.silence_ms + FRAME_MS
            if state.silence_ms >= self._end_silence_ms:
                state.speaking = False
                state.ended = True
                state.speech_ms -= state.silence_ms
        elif recent.bit_count() >= self._start_frames:
            state.speaking = True
            state.started = True
            state.speech_ms = FRAME_MS * recent.bit_count()
            state.silence_ms = 0
        else:
            state.silence_ms += FRAME_MS
        return state
