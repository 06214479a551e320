"""The agent's ``voicemail`` block: what an outbound call does when a machine answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aybiza.agents.errors import FieldError, located_error

Detection = Literal["carrier", "local", "off"]
MachineAction = Literal["leave_message", "hang_up"]


class VoicemailConfig(BaseModel):
    """Answering-machine detection on outbound calls (inbound calls are never screened).

    ``detection``: ``carrier`` asks the carrier to detect (Twilio's answering-machine detection;
    carriers without one fall back to ``local``), ``local`` listens to the first seconds of the
    callee's audio (greeting length, cadence, beep and fax tones), ``off`` greets at once.
    Until detection decides, the agent's greeting is held. ``action`` on a machine:
    ``leave_message`` waits for the beep (or the silence after the greeting), speaks
    ``message`` and hangs up; ``hang_up`` hangs up at once. A fax is always hung up on."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    detection: Detection = Field(default="off", description="carrier, local or off.")
    action: MachineAction = Field(default="hang_up", description="leave_message or hang_up.")
    message: str = Field(
        default="", max_length=2000, description="Spoken after the beep (leave_message)."
    )
    max_wait_for_beep_s: int = Field(
        default=30,
        ge=1,
        le=120,
        description="Longest wait (s) for the beep or end of greeting before speaking anyway.",
    )
    # Tuning of the carrier's detection (Twilio's, with ``detection: carrier``), in Twilio's
    # ranges; unset: Twilio's own defaults (30 s, 2400 ms, 1200 ms, 5000 ms).
    machine_detection_timeout_s: int | None = Field(
        default=None,
        ge=3,
        le=59,
        description="Seconds the carrier tries to detect before reporting unknown "
        "(Twilio MachineDetectionTimeout, 3-59).",
    )
    machine_detection_speech_threshold_ms: int | None = Field(
        default=None,
        ge=1000,
        le=6000,
        description="Speech longer than this (ms) is a machine, shorter a person "
        "(Twilio MachineDetectionSpeechThreshold, 1000-6000).",
    )
    machine_detection_speech_end_threshold_ms: int | None = Field(
        default=None,
        ge=500,
        le=5000,
        description="Silence (ms) after speech that ends it "
        "(Twilio MachineDetectionSpeechEndThreshold, 500-5000).",
    )
    machine_detection_silence_timeout_ms: int | None = Field(
        default=None,
        ge=2000,
        le=10000,
        description="Initial silence (ms) after which the answer is unknown "
        "(Twilio MachineDetectionSilenceTimeout, 2000-10000).",
    )

    @model_validator(mode="after")
    def _message_to_leave(self) -> VoicemailConfig:
        if self.action == "leave_message" and not self.message:
            problem = FieldError("message", "required when action is leave_message", self.message)
            raise located_error([problem])
        tuning = [name for name in CARRIER_TUNING if getattr(self, name) is not None]
        if tuning and self.detection != "carrier":
            problem = FieldError(
                tuning[0], "only used when detection is carrier", getattr(self, tuning[0])
            )
            raise located_error([problem])
        return self

    def carrier_tuning(self) -> dict[str, int]:
        """The carrier detection settings that are set, by field name."""
        return {
            name: value for name in CARRIER_TUNING if (value := getattr(self, name)) is not None
        }


CARRIER_TUNING = (
    "machine_detection_timeout_s",
    "machine_detection_speech_threshold_ms",
    "machine_detection_speech_end_threshold_ms",
    "machine_detection_silence_timeout_ms",
)
