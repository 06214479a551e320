"""What tools may do to the live call: play audio into it, press keys, collect keypad
digits."""

from __future__ import annotations

from aybiza.pipeline.keypad import Keypad
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.transport import MediaConnection


class LiveCallControls:
    """``CallControls`` for one call loop (the automation engine's tools get this)."""

    def __init__(
        self, plan: CallPlan, playout: Playout, keypad: Keypad, connection: MediaConnection
    ) -> None:
        self._plan = plan
        self._playout = playout
        self._keypad = keypad
        self._connection = connection

    @property
    def call_id(self) -> str:
        return self._plan.call_id

    @property
    def call_sid(self) -> str:
        return self._plan.call_sid

    async def play_audio(self, mulaw: bytes, text: str = "") -> None:
        """Audio into the call after what is queued; not part of the conversation's text."""
        utterance = self._playout.start_utterance()
        index = self._playout.add_sentence(utterance, text)
        await self._playout.send(utterance, index, mulaw)
        self._playout.finish_sentence(utterance, index)

    async def send_digits(self, digits: str) -> bool:
        """Keys as the carrier's events, after what the caller is hearing has played (as tones
        queued with ``play_audio`` would be)."""
        await self._playout.wait_drained()
        return await self._connection.send_digits(digits)

    async def collect_digits(self, *, max_digits: int, terminator: str, timeout_s: float) -> str:
        return await self._keypad.collect(
            max_digits=max_digits, terminator=terminator, timeout_s=timeout_s
        )
