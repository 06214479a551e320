"""Running the detector over the scripted set (``tests/data/answering_machines.json``): the
outcome of each case, and for a machine when the message would start."""

from __future__ import annotations

from dataclasses import dataclass

from tests.pipeline.callee_audio import Case, frames, render

from aybiza.pipeline.machine_detection import (
    Detection,
    DetectionSettings,
    MachineDetector,
    MessageEnd,
    MessageEndDetector,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    detection: Detection | None
    message_end: MessageEnd | None
    message_at_ms: int | None

    @property
    def right(self) -> bool:
        return self.detection is not None and self.detection.answered_by == self.case.label


def run_case(case: Case, audio: bytes | None = None) -> Outcome:
    """Detect over the case's audio; after a machine verdict, wait for its greeting's end."""
    settings = DetectionSettings()
    detector = MachineDetector(settings)
    detection: Detection | None = None
    waiting: MessageEndDetector | None = None
    for index, frame in enumerate(frames(audio if audio is not None else render(case.script))):
        if detection is None:
            detection = detector.feed(frame)
            if detection is not None and detection.answered_by == "machine":
                if detection.beep:
                    return Outcome(case, detection, "beep", (index + 1) * 20)
                waiting = MessageEndDetector(settings, detector.tones)
        elif waiting is not None:
            ended = waiting.feed(frame)
            if ended is not None:
                return Outcome(case, detection, ended, (index + 1) * 20)
    return Outcome(case, detection, None, None)
