"""Tools the model may call during a turn, as the conversation engine sees them.

The automation engine (``aybiza.automation``) implements ``ToolRunner`` for a call: the tenant's
tools, HTTP tools and the built-ins. The two tools that end the agent's part of the call,
``end_call`` and ``transfer_call``, are acted on by the call loop itself once the answer that
asked for them has been heard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aybiza.providers.base import Message, ToolCall, ToolResult, ToolSpec

END_CALL = "end_call"
TRANSFER_CALL = "transfer_call"
CALL_ENDING = frozenset({END_CALL, TRANSFER_CALL})


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """How a tool behaves around the caller.

    ``speak_during_execution``: said while the tool runs, so the caller never hears dead air.
    ``finish_on_barge_in``: a tool already running when the caller interrupts completes (its
    result is recorded); otherwise it is cancelled. ``timeout_s``: the longest it may run.
    """

    speak_during_execution: str | None = None
    finish_on_barge_in: bool = False
    timeout_s: float = 10.0


class CallControls(Protocol):
    """What tools may do to the live call they run in (implemented by the call loop)."""

    @property
    def call_id(self) -> str: ...

    @property
    def call_sid(self) -> str: ...

    async def play_audio(self, mulaw: bytes) -> None:
        """Play μ-law 8 kHz audio into the call after what is already queued (DTMF tones)."""

    async def send_digits(self, digits: str) -> bool:
        """Press keypad ``digits`` (0-9, *, #, A-D) as the carrier's own events once the audio
        already queued has played; True once they were sent, False when the carrier has no
        such events (then play them as tones)."""
        ...

    async def collect_digits(self, *, max_digits: int, terminator: str, timeout_s: float) -> str:
        """Gather keypad digits from the caller until ``terminator``, ``max_digits`` or
        ``timeout_s`` of silence on the keypad; returns the digits (without the terminator)."""
        ...


class ToolKit(Protocol):
    """A call's tools, loaded before its loop starts; ``bind`` makes the runner once the
    loop's controls exist (the loop is assembled in one pass)."""

    def bind(
        self, controls: CallControls, transcript: Callable[[], Sequence[Message]]
    ) -> ToolRunner:
        """The runner for the call whose ``controls`` these are."""
        ...


class ToolRunner(Protocol):
    """Runs the model's tool calls for one call."""

    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools offered to the model."""
        ...

    def policy(self, name: str) -> ToolPolicy:
        """How the named tool behaves (defaults for unknown names)."""
        ...

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call. Tool failures come back as ``is_error`` results for the model, never
        as exceptions; only cancellation propagates."""
        ...

    def check_precondition(self, call: ToolCall, transcript: Sequence[Message]) -> str | None:
        """Why the call loop must not act on ``end_call``/``transfer_call`` now (None: go on);
        the reason goes back to the model as the tool's error result."""
        ...

    async def aclose(self) -> None:
        """The call is over: store what is pending."""


CALL_ENDING_SPECS = (
    ToolSpec(
        name=END_CALL,
        description="Hang up once your last sentence has been heard. Use it after saying "
        "goodbye, when the caller has nothing else to ask.",
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    ),
    ToolSpec(
        name=TRANSFER_CALL,
        description="Transfer the caller to a person or another number. Say that you are "
        "transferring them first. 'to' is an E.164 number (+15551234567) or a sip: URI; "
        "'summary' (optional) briefly tells the person what the call is about.",
        input_schema={
            "type": "object",
            "properties": {
                "to": {"type": "string", "description": "E.164 number or sip: URI"},
                "summary": {"type": "string", "description": "what the caller needs"},
            },
            "required": ["to"],
            "additionalProperties": False,
        },
    ),
)
