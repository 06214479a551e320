"""How ``aybiza call`` places its call: as Twilio (webhook, then Media Streams) or over SIP
and RTP. Each dialer prints why it could not connect and returns None then."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.markup import escape

from aybiza.simulator.errors import SIGNATURE_HINT, SimulatorError
from aybiza.simulator.scripted_call import ScriptedCall
from aybiza.simulator.sip_client import SipSimulatedCall
from aybiza.simulator.twilio_client import SimulatedCall

# WebSocket close code for a refused stream (a bad X-Twilio-Signature, for one).
POLICY_VIOLATION = 1008


class Dialer(Protocol):
    """Places the call for ``_call``: what it dials, and how."""

    @property
    def description(self) -> str:
        """What is being called, for the progress line."""
        ...

    async def __call__(self, console: Console) -> ScriptedCall | None:
        """The connected call, or None after printing why there is none."""
        ...


@dataclass(frozen=True, slots=True)
class TwilioDialer:
    """Rings ``to`` on the server at ``url`` as Twilio would (signed when given a token)."""

    url: str
    to: str
    from_: str
    auth_token: str | None
    account_sid: str | None

    @property
    def description(self) -> str:
        return f"{self.to} at {self.url}"

    async def __call__(self, console: Console) -> ScriptedCall | None:
        try:
            simulated = await SimulatedCall.dial(
                self.url,
                to=self.to,
                from_=self.from_,
                auth_token=self.auth_token,
                account_sid=self.account_sid,
            )
        except SimulatorError as exc:
            console.print(f"[red]✗ {escape(str(exc))}[/red]")
            return None
        if simulated.ended:
            hint = f"; {SIGNATURE_HINT}" if simulated.close_code == POLICY_VIOLATION else ""
            closed = (
                f"the server closed the media stream at once (code {simulated.close_code}, "
                f"reason {simulated.close_reason!r}){hint}"
            )
            console.print(f"[red]✗ {escape(closed)}[/red]")
            return None
        console.print(f"connected: call {simulated.call_sid}, stream {simulated.stream_sid}")
        return simulated


@dataclass(frozen=True, slots=True)
class SipDialer:
    """Calls the SIP URI ``uri`` with the simulator's own user agent."""

    uri: str
    from_: str
    username: str | None
    password: str | None
    timeout_s: float

    @property
    def description(self) -> str:
        return self.uri

    async def __call__(self, console: Console) -> ScriptedCall | None:
        try:
            simulated = await SipSimulatedCall.dial(
                self.uri,
                from_=self.from_,
                username=self.username,
                password=self.password,
                timeout_s=self.timeout_s,
            )
        except SimulatorError as exc:
            console.print(f"[red]✗ {escape(str(exc))}[/red]")
            return None
        codec = simulated.rtp.params.codec if simulated.rtp is not None else "?"
        console.print(
            escape(f"connected: call {simulated.call_sid} over SIP, RTP {codec}"),
            highlight=False,
        )
        return simulated
