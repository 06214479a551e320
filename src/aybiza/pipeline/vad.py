"""Voice activity on the caller's 20 ms μ-law frames (webrtcvad on a table-decoded frame)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from aybiza.audio.codec import DECODE_TABLE, FRAME_BYTES, FRAME_MS, SAMPLE_RATE_HZ


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
    """

    def __init__(
        self,
        *,
        end_silence_ms: int = 500,
        aggressiveness: int = 2,
        start_frames: int = 3,
        window: int = 5,
    ) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)
        self._end_silence_ms = end_silence_ms
        self._start_frames = start_frames
        self._window = window
        self._recent: list[bool] = []
        self.state = VadState()

    def feed(self, frame: bytes) -> VadState:
        """Classify one 20 ms μ-law frame and update the state (``started``/``ended`` are
        true only on the frame where the change happened)."""
        voiced = len(frame) == FRAME_BYTES and self._vad.is_speech(
            DECODE_TABLE[np.frombuffer(frame, np.uint8)].tobytes(), SAMPLE_RATE_HZ
        )
        state = self.state
        state.started = state.ended = False
        self._recent.append(voiced)
        if len(self._recent) > self._window:
            self._recent.pop(0)
        if state.speaking:
            state.speech_ms += FRAME_MS
            state.silence_ms = 0 if voiced else state.silence_ms + FRAME_MS
            if state.silence_ms >= self._end_silence_ms:
                state.speaking = False
                state.ended = True
                state.speech_ms -= state.silence_ms
        elif sum(self._recent) >= self._start_frames:
            state.speaking = True
            state.started = True
            state.speech_ms = FRAME_MS * sum(self._recent)
            state.silence_ms = 0
        else:
            state.silence_ms += FRAME_MS
        return state
