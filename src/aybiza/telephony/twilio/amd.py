"""Twilio's answering-machine detection as the platform's outcome (no I/O).

A call placed with ``MachineDetection=DetectMessageEnd`` and ``AsyncAmd=true`` is connected at
once; Twilio posts ``AnsweredBy`` to ``AsyncAmdStatusCallback`` when it has decided: ``human``
as soon as a person is heard, ``machine_end_beep`` / ``machine_end_silence`` /
``machine_end_other`` once a machine's greeting has ended (``DetectMessageEnd`` waits for that,
so a voicemail message can be spoken at once), ``fax``, or ``unknown``. ``machine_start`` is
what ``MachineDetection=Enable`` reports instead: a machine, its greeting still playing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aybiza.agents.errors import FieldError
from aybiza.errors import Invalid
from aybiza.pipeline.machine_detection import AnsweredBy, MessageEnd

AMD_PATH = "/twilio/amd"
# ``MachineDetection`` per detection the platform asks for: ``Enable`` reports a machine as
# soon as one is heard (``machine_start``); ``DetectMessageEnd`` waits for its greeting to end.
MACHINE_DETECTION = {"answer": "Enable", "message_end": "DetectMessageEnd"}
# The agent's ``voicemail`` tuning fields -> the Twilio SDK's ``calls.create`` arguments
# (``MachineDetectionTimeout``, ``MachineDetectionSpeechThreshold``, ...).
_TUNING = {
    "machine_detection_timeout_s": "machine_detection_timeout",
    "machine_detection_speech_threshold_ms": "machine_detection_speech_threshold",
    "machine_detection_speech_end_threshold_ms": "machine_detection_speech_end_threshold",
    "machine_detection_silence_timeout_ms": "machine_detection_silence_timeout",
}


def amd_tuning(tuning: Mapping[str, int]) -> dict[str, int]:
    """The SDK arguments for the agent's detection tuning (unknown names are a bug)."""
    return {_TUNING[name]: value for name, value in tuning.items()}


_ANSWERED_BY: dict[str, tuple[AnsweredBy, MessageEnd | None]] = {
    "human": ("human", None),
    "machine_start": ("machine", None),
    "machine_end_beep": ("machine", "beep"),
    "machine_end_silence": ("machine", "silence"),
    "machine_end_other": ("machine", "other"),
    "fax": ("fax", None),
    "unknown": ("unknown", None),
}


@dataclass(frozen=True, slots=True)
class MachineVerdict:
    """Twilio's answer: who answered, whether the machine's greeting is over (and how), and
    how long detection took (``MachineDetectionDuration``, ms, when given)."""

    carrier_call_id: str
    answered_by: AnsweredBy
    message_end: MessageEnd | None
    carrier_value: str
    duration_ms: int | None = None


def machine_verdict(fields: Mapping[str, str]) -> MachineVerdict:
    """The AMD status callback's form as a verdict. Raises ``Invalid`` naming the field."""
    sid = fields.get("CallSid", "")
    if not (0 < len(sid) <= 64 and sid.isprintable()):
        raise Invalid([FieldError("CallSid", "expected 1-64 printable characters", sid or None)])
    raw = fields.get("AnsweredBy", "")
    mapped = _ANSWERED_BY.get(raw)
    if mapped is None:
        expected = ", ".join(_ANSWERED_BY)
        raise Invalid([FieldError("AnsweredBy", f"expected one of {expected}", raw or None)])
    duration = fields.get("MachineDetectionDuration", "")
    if duration and not duration.isdigit():
        raise Invalid([FieldError("MachineDetectionDuration", "expected milliseconds", duration)])
    return MachineVerdict(
        carrier_call_id=sid,
        answered_by=mapped[0],
        message_end=mapped[1],
        carrier_value=raw,
        duration_ms=int(duration) if duration else None,
    )
