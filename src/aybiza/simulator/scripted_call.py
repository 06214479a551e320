"""``ScriptedCall``: what the script runner and the report need of a simulated call, whichever
carrier carries it (Twilio Media Streams: ``twilio_client.SimulatedCall``; SIP and RTP:
``sip_client.SipSimulatedCall``)."""

from __future__ import annotations

from typing import Literal, Protocol

CarrierName = Literal["twilio", "sip"]


class ScriptedCall(Protocol):
    """One live call as the simulated caller holds it."""

    @property
    def carrier(self) -> CarrierName:
        """Which carrier's side the simulator plays."""
        ...

    @property
    def call_sid(self) -> str:
        """The call's id at the carrier, which the platform's call record is found by."""
        ...

    @property
    def ended(self) -> bool:
        """Whether the call is over (hung up by either side)."""
        ...

    @property
    def closed_by_server(self) -> bool:
        """Whether the agent's side ended the call."""
        ...

    @property
    def ending(self) -> str:
        """How the server ended the call, in the carrier's words (``close code 1000``,
        ``BYE``); empty while it has not."""
        ...

    @property
    def end_problem(self) -> str | None:
        """Why the server's way of ending the call is a failure; None when it is not one."""
        ...

    @property
    def protocol_errors(self) -> list[str]:
        """What the agent sent that the carrier would reject, one description each."""
        ...

    @property
    def played_audio(self) -> bytes:
        """What the caller heard so far (μ-law 8 kHz, silence in the gaps)."""
        ...

    async def say(self, mulaw: bytes) -> None:
        """Speak μ-law 8 kHz audio at real-time pace; return once its last frame was sent."""

    async def send_dtmf(self, digit: str) -> None:
        """Press one key; the agent's answer is timed from here."""

    async def hangup(self) -> None:
        """Hang up (idempotent)."""

    async def wait_for_agent_audio(self, timeout: float) -> float:  # noqa: ASYNC109
        """The latency of the agent's answer to the caller's latest action (or of the
        greeting), once it arrives. Raises TimeoutError, or CallEndedError."""
        ...

    async def wait_until_agent_done(self, *, quiet_ms: int = 1200, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the agent has been quiet for ``quiet_ms``. Raises TimeoutError."""
        ...

    async def wait_until_ended(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the call is over. Raises TimeoutError."""
