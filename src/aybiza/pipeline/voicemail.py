"""The answering-machine screen of an outbound call: who answered decides what the agent does.

Until it is known, the agent's greeting is held and what the callee says is transcribed but
not answered. A person (or an undecided answer) then hears the greeting as on any call; a fax
is hung up on; a machine is hung up on, or, with ``leave_message``, hears the agent's message
once its greeting has ended (the beep, or the silence after the greeting) and the call ends.
Detection is this loop's own (``MachineDetector`` on the callee's frames) or the carrier's
(``carrier_detected``, from Twilio's answering-machine detection callback).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

import structlog

from aybiza.analytics.recording import CallRecorder, CallStats
from aybiza.pipeline.controls import LiveCallControls
from aybiza.pipeline.machine_detection import (
    AnsweredBy,
    Detection,
    DetectionSettings,
    MachineDetector,
    MessageEnd,
    MessageEndDetector,
)
from aybiza.pipeline.plan import VoicemailPlan
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.voices import CallVoices
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

# Why the call ended: the message was left, or a machine or fax was hung up on.
VOICEMAIL_LEFT = "voicemail"
MACHINE_DETECTED = "machine-detected"
# How long a call waits for the carrier's verdict beyond the message itself (Twilio's
# detection gives up after its own 30 s timeout and then reports ``unknown``).
_CARRIER_GRACE_MS = 35000


class ScreenedCall(Protocol):
    """What the screen needs of the call loop (``CallSession``)."""

    stats: CallStats
    recorder: CallRecorder
    playout: Playout
    voices: CallVoices
    controls: LiveCallControls

    async def greet(self) -> None: ...

    async def end(self, reason: str) -> None: ...


class MachineScreen:
    """Screens one outbound call. The call loop feeds it the callee's frames while
    ``listening`` (and answers nothing the callee says meanwhile) and runs ``run()`` in place
    of the greeting; a machine is listened to until the call ends."""

    def __init__(self, plan: VoicemailPlan, call: ScreenedCall) -> None:
        self._plan = plan
        self._call = call
        settings = DetectionSettings(message_max_wait_ms=plan.max_wait_for_beep_ms)
        self._detector = MachineDetector(settings) if plan.detection == "local" else None
        self._settings = settings
        self._message_end: MessageEndDetector | None = None
        self._decided = asyncio.Event()
        self._ready = asyncio.Event()
        self.detection: Detection | None = None
        self.message_end: MessageEnd | None = None
        self.listening = True
        # When a person (or nobody) was heard and the greeting went out (``time.monotonic()``).
        self.released_at: float | None = None

    def feed(self, frame: bytes) -> None:
        """One 20 ms frame of the callee while the screen listens."""
        if self._detector is not None and self.detection is None:
            decided = self._detector.feed(frame)
            if decided is not None:
                self._decide(decided)
        elif self._message_end is not None and not self._ready.is_set():
            ended = self._message_end.feed(frame)
            if ended is not None:
                self._message_ended(ended)

    @property
    def awaiting_carrier(self) -> bool:
        """The carrier detects and has not said yet."""
        return self._detector is None and self.detection is None

    def screened(self, speech_end: float) -> bool:
        """Whether caller speech that ended at ``speech_end`` (monotonic) was heard while
        screening: the "Hello?" that made the verdict is transcribed, not answered."""
        return self.listening or (self.released_at is not None and speech_end <= self.released_at)

    def carrier_detected(self, answered_by: AnsweredBy, message_end: MessageEnd | None) -> None:
        """The carrier's verdict; ``message_end`` when it also waited for the greeting's end."""
        if self.detection is not None:
            return
        self._decide(Detection(answered_by, "carrier", 0))
        if message_end is not None:
            self._message_ended(message_end)

    async def run(self) -> None:
        """Wait for the verdict, then greet, hang up, or leave the message and hang up."""
        if self._detector is None:
            limit_s = (self._plan.max_wait_for_beep_ms + _CARRIER_GRACE_MS) / 1000
            with contextlib.suppress(TimeoutError):
                await within(self._decided.wait(), limit_s)
            if self.detection is None:
                self._decide(Detection("unknown", "no verdict from the carrier", 0))
        await self._decided.wait()
        detection = self.detection
        assert detection is not None
        if detection.answered_by in ("human", "unknown"):
            self.listening, self.released_at = False, time.monotonic()
            await self._call.greet()
            return
        if detection.answered_by == "fax" or self._plan.action == "hang_up":
            await self._call.end(MACHINE_DETECTED)
            return
        # ``listening`` stays on: what the machine says (or is still being transcribed) is
        # never answered.
        await self._ready.wait()
        call, message = self._call, self._plan.message
        await call.controls.play_audio(await call.voices.phrase(message), message)
        await call.playout.wait_drained()
        call.recorder.transcript("agent", message)
        await call.end(VOICEMAIL_LEFT)

    def _decide(self, detection: Detection) -> None:
        self.detection = detection
        self._call.stats.answered_by = detection.answered_by
        self._call.stats.machine_detection = {
            "by": self._plan.detection,
            "reason": detection.reason,
            "at_ms": detection.at_ms,
        }
        log.info("call.answered_by", answered_by=detection.answered_by, reason=detection.reason)
        if detection.answered_by == "machine" and self._plan.action == "leave_message":
            if detection.beep:
                self._message_ended("beep")
            elif self._detector is not None:
                self._message_end = MessageEndDetector(self._settings, self._detector.tones)
            else:
                # The carrier said machine without waiting for its greeting to end.
                self._message_end = MessageEndDetector(self._settings)
        self._decided.set()

    def _message_ended(self, how: MessageEnd) -> None:
        self.message_end = how
        if self._call.stats.machine_detection is not None:
            self._call.stats.machine_detection["message_end"] = how
        self._ready.set()
