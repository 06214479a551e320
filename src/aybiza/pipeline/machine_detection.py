"""Who answered an outbound call (a person, an answering machine, a fax), from the first
seconds of the callee's audio, and when a machine's greeting has ended (its beep).

Three cues, each measured on the 20 ms μ-law frames as they arrive (audio time, not wall
clock, so the decision does not depend on jitter or load):

- greeting length: a person says "Hello?" (well under 1.5 s) and waits; a recorded greeting
  talks on for more than 2.5 s;
- cadence: the bursts of speech (webrtcvad on/off) a greeting holds before its first long
  pause; a recording reads several phrases without waiting for an answer;
- tones (``aybiza.audio.goertzel``): a steady tone of at least ``beep_min_ms`` between 300 and
  2200 Hz is a voicemail beep; the fax calling tone (CNG, 1100 Hz) or answer tone (CED,
  2100 Hz) is a fax machine.

``MachineDetector`` decides within ``window_ms``; ``MessageEndDetector`` then waits for the
beep (or the silence after the greeting) before a voicemail message is spoken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import webrtcvad

from aybiza.audio.codec import DECODE_TABLE, FRAME_BYTES, FRAME_MS, SAMPLE_RATE_HZ
from aybiza.audio.goertzel import ToneBank

AnsweredBy = Literal["human", "machine", "fax", "unknown"]
ANSWERED_BY: tuple[AnsweredBy, ...] = ("human", "machine", "fax", "unknown")
MessageEnd = Literal["beep", "silence", "other"]

# Beeps and fax tones lie in this band; the bank's 25 Hz steps keep any tone within 12.5 Hz
# of a bin (at least 80 % of its energy in that bin over a 20 ms frame).
_BANK_HZ = tuple(float(f) for f in np.arange(300, 2201, 25))
_FAX_CNG_HZ, _FAX_CED_HZ = 1100.0, 2100.0
_FAX_TOLERANCE_HZ = 40.0
# Spectral flatness above this is hiss, not a voice (speech frames sit mostly below 0.1).
_MAX_SPEECH_FLATNESS = 0.5


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """The thresholds, in milliseconds of audio; defaults follow common practice (Asterisk's
    AMD, Twilio's documented behaviour)."""

    window_ms: int = 5000
    initial_silence_ms: int = 3500
    human_greeting_max_ms: int = 1500
    machine_greeting_min_ms: int = 2500
    after_greeting_silence_ms: int = 800
    machine_min_bursts: int = 3
    # Voiced audio a burst needs to count as speech (a click or a crackle does not).
    min_word_ms: int = 200
    beep_min_ms: int = 120
    tone_min_share: float = 0.6
    fax_min_ms: int = 400
    message_end_silence_ms: int = 2000
    message_max_wait_ms: int = 30000


@dataclass(frozen=True, slots=True)
class Detection:
    """The outcome, why, and when (ms of callee audio); ``beep`` says the beep was heard."""

    answered_by: AnsweredBy
    reason: str
    at_ms: int
    beep: bool = False


@dataclass(slots=True)
class ToneRun:
    """Consecutive frames whose strongest bin is the same steady tone."""

    frequency_hz: float
    frames: int = 1

    @property
    def duration_ms(self) -> int:
        return self.frames * FRAME_MS

    @property
    def is_fax(self) -> bool:
        return any(
            abs(self.frequency_hz - fax) <= _FAX_TOLERANCE_HZ for fax in (_FAX_CNG_HZ, _FAX_CED_HZ)
        )


class ToneTracker:
    """Follows runs of one steady tone across frames."""

    def __init__(self, settings: DetectionSettings) -> None:
        self._settings = settings
        self._bank = ToneBank(_BANK_HZ)
        self.current: ToneRun | None = None

    def feed(self, frame: bytes) -> ToneRun | None:
        """Take one frame; the run that just ended with it, if any."""
        tone = self._bank.strongest_in_ulaw(frame) if len(frame) == self._bank.block else None
        heard = tone.frequency_hz if tone and tone.share >= self._settings.tone_min_share else None
        current = self.current
        if heard is not None and current is not None and abs(heard - current.frequency_hz) <= 25:
            current.frames += 1
            return None
        self.current = ToneRun(heard) if heard is not None else None
        return current

    def is_beep(self, run: ToneRun | None) -> bool:
        return run is not None and not run.is_fax and run.duration_ms >= self._settings.beep_min_ms


class SpeechBursts:
    """The callee's speech as bursts: webrtcvad's voiced frames that are not noise-like
    (spectral flatness, which is near 1 for hiss and well below for voices), split by gaps of
    at least ``gap_ms``; a burst counts once it holds ``min_word_ms`` of voiced audio."""

    def __init__(self, settings: DetectionSettings, gap_ms: int = 160) -> None:
        self._settings = settings
        self._vad = webrtcvad.Vad(2)
        self._gap_ms = gap_ms
        self._window = np.hanning(FRAME_BYTES)
        self._voiced_ms = 0
        self._burst_from_ms = 0
        self._quiet_ms = gap_ms
        self.count = 0
        self.first_ms: int | None = None
        self.last_voice_ms = 0

    def feed(self, frame: bytes, now: int) -> bool:
        """Take the frame ending at ``now`` (ms); whether it was voiced speech."""
        voiced = len(frame) == FRAME_BYTES and self._voiced(frame)
        if not voiced:
            self._quiet_ms += FRAME_MS
            return False
        if self._quiet_ms >= self._gap_ms:
            self._burst_from_ms, self._voiced_ms = now - FRAME_MS, 0
        self._quiet_ms = 0
        self._voiced_ms += FRAME_MS
        if self._voiced_ms == self._settings.min_word_ms:
            self.count += 1
            if self.first_ms is None:
                self.first_ms = self._burst_from_ms
        if self._voiced_ms >= self._settings.min_word_ms:
            self.last_voice_ms = now
        return True

    def _voiced(self, frame: bytes) -> bool:
        samples = DECODE_TABLE[np.frombuffer(frame, np.uint8)]
        if not self._vad.is_speech(samples.tobytes(), SAMPLE_RATE_HZ):
            return False
        power = np.abs(np.fft.rfft(samples * self._window)) ** 2 + 1e-9
        return float(np.exp(np.mean(np.log(power))) / np.mean(power)) < _MAX_SPEECH_FLATNESS


class MachineDetector:
    """Feed the callee's frames from the moment the call is answered; ``feed`` returns the
    ``Detection`` once decided (and the same one after that)."""

    def __init__(self, settings: DetectionSettings | None = None) -> None:
        self.settings = settings or DetectionSettings()
        self.tones = ToneTracker(self.settings)
        self.speech = SpeechBursts(self.settings)
        self._elapsed_ms = 0
        self.decision: Detection | None = None

    def feed(self, frame: bytes) -> Detection | None:
        if self.decision is not None:
            return self.decision
        self._elapsed_ms += FRAME_MS
        now = self._elapsed_ms
        ended = self.tones.feed(frame)
        current = self.tones.current
        if (
            current is not None
            and current.is_fax
            and current.duration_ms >= self.settings.fax_min_ms
        ):
            return self._decide("fax", f"fax tone at {current.frequency_hz:.0f} Hz")
        if self.tones.is_beep(ended):
            assert ended is not None
            return self._decide("machine", f"beep at {ended.frequency_hz:.0f} Hz", beep=True)
        voiced = self.speech.feed(frame, now)
        return self._judge(now, voiced)

    def _judge(self, now: int, voiced: bool) -> Detection | None:
        settings = self.settings
        bursts = self.speech
        start = bursts.first_ms
        if start is None:
            if now >= settings.initial_silence_ms:
                return self._decide("unknown", f"no speech in {settings.initial_silence_ms} ms")
            return None
        greeting_ms = bursts.last_voice_ms - start
        if greeting_ms >= settings.machine_greeting_min_ms:
            return self._decide("machine", f"greeting longer than {greeting_ms} ms")
        if now - bursts.last_voice_ms >= settings.after_greeting_silence_ms:
            if greeting_ms <= settings.human_greeting_max_ms:
                return self._decide("human", f"{greeting_ms} ms greeting, then silence")
            if bursts.count >= settings.machine_min_bursts:
                return self._decide("machine", f"{bursts.count} phrases without a pause")
            return self._decide("human", f"{greeting_ms} ms greeting in one phrase, then silence")
        if now >= settings.window_ms:
            if voiced:
                return self._decide("machine", "still talking at the end of the window")
            return self._decide("unknown", f"undecided after {settings.window_ms} ms")
        return None

    def _decide(self, answered_by: AnsweredBy, reason: str, *, beep: bool = False) -> Detection:
        self.decision = Detection(answered_by, reason, self._elapsed_ms, beep)
        return self.decision


class MessageEndDetector:
    """After a machine answered: the moment to speak a voicemail message. ``beep`` once a beep
    has ended, ``silence`` after ``message_end_silence_ms`` without speech or tone following
    the greeting, ``other`` when neither came within ``message_max_wait_ms``."""

    def __init__(self, settings: DetectionSettings, tones: ToneTracker | None = None) -> None:
        self._settings = settings
        self._tones = tones or ToneTracker(settings)
        self._speech = SpeechBursts(settings)
        self._elapsed_ms = 0
        self._quiet_ms = 0

    def feed(self, frame: bytes) -> MessageEnd | None:
        self._elapsed_ms += FRAME_MS
        ended = self._tones.feed(frame)
        if self._tones.is_beep(ended):
            return "beep"
        voiced = self._speech.feed(frame, self._elapsed_ms)
        sounding = voiced or self._tones.current is not None
        self._quiet_ms = 0 if sounding else self._quiet_ms + FRAME_MS
        if self._quiet_ms >= self._settings.message_end_silence_ms:
            return "silence"
        if self._elapsed_ms >= self._settings.message_max_wait_ms:
            return "other"
        return None
