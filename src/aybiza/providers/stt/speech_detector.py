"""Where a caller's utterance starts and ends, for the embedded recogniser (webrtcvad).

The recogniser only borrows a shared decoder while someone speaks, so it must find speech itself.
A start needs several voiced frames close together (a click is not speech), and the frames just
before it are kept as pre-roll so the first word's onset reaches the decoder too.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np
import numpy.typing as npt
import webrtcvad

from aybiza.audio.codec import FRAME_MS, SAMPLE_RATE_HZ

FrameKind = Literal["silence", "started", "speech", "ended"]

# Speech starts when START_VOICED of the last START_WINDOW frames are voiced (80 ms in 120 ms).
START_WINDOW = 6
START_VOICED = 4


class SpeechDetector:
    """Classifies 20 ms frames of 8 kHz int16 PCM, one at a time.

    ``push`` says what a frame is: ``silence`` (no utterance; kept as pre-roll), ``started`` (this
    frame starts an utterance: take the audio so far with ``take_pre_roll``), ``speech`` (part of
    the utterance) or ``ended`` (the last frame of the utterance, after ``end_silence_ms`` of
    silence, or once it lasted ``max_utterance_ms``: hold music must not keep a shared decoder
    forever). ``aggressiveness`` is webrtcvad's mode, 0 (keeps most audio) to 3.
    """

    def __init__(
        self,
        *,
        end_silence_ms: int,
        aggressiveness: int = 2,
        pre_roll_ms: int = 300,
        max_utterance_ms: int = 20_000,
    ) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError(f"vad_aggressiveness must be 0 to 3, got {aggressiveness}")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._end_frames = max(1, end_silence_ms // FRAME_MS)
        self._pre_roll: deque[npt.NDArray[np.int16]] = deque(
            maxlen=max(START_WINDOW, pre_roll_ms // FRAME_MS)
        )
        self._recent_voiced: deque[bool] = deque(maxlen=START_WINDOW)
        self._max_frames = max_utterance_ms // FRAME_MS
        self._silent_frames = 0
        self._utterance_frames = 0
        self.in_utterance = False

    def push(self, frame: npt.NDArray[np.int16]) -> FrameKind:
        """Classify the next frame (exactly 20 ms)."""
        voiced = bool(self._vad.is_speech(frame.tobytes(), SAMPLE_RATE_HZ))
        if not self.in_utterance:
            self._pre_roll.append(frame)
            self._recent_voiced.append(voiced)
            if sum(self._recent_voiced) < START_VOICED:
                return "silence"
            self.in_utterance = True
            self._silent_frames = 0
            self._utterance_frames = len(self._pre_roll)
            return "started"
        self._silent_frames = 0 if voiced else self._silent_frames + 1
        self._utterance_frames += 1
        if self._silent_frames >= self._end_frames or self._utterance_frames >= self._max_frames:
            self.reset()
            return "ended"
        return "speech"

    def take_pre_roll(self) -> list[npt.NDArray[np.int16]]:
        """The frames up to and including the one that started the utterance."""
        frames = list(self._pre_roll)
        self._pre_roll.clear()
        return frames

    def reset(self) -> None:
        """Back to waiting for speech (the utterance ended here or was finalized elsewhere)."""
        self.in_utterance = False
        self._silent_frames = 0
        self._recent_voiced.clear()
        self._pre_roll.clear()
