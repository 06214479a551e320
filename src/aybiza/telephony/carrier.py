"""The carrier boundary: what every way a call reaches the platform gives it, and asks of it.

A carrier (Twilio Media Streams, later SIP/RTP and the browser) turns its own call set-up into an
``IncomingCall``, hands it to the platform's ``CallIntake`` (the services implement it; carriers
never import them) and, once media flows, gives the call loop one ``MediaConnection``
(``aybiza.pipeline.transport``): 20 ms μ-law frames and DTMF in; audio, marks and clear out;
transfer and hang-up. A ``Carrier`` also places outbound calls and ends calls it carries.
Nothing in this module knows any carrier's names or wire format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from aybiza.analytics.recording import Speaker
from aybiza.pipeline.machine_detection import AnsweredBy, MessageEnd
from aybiza.pipeline.session import CallSession
from aybiza.pipeline.transport import MediaConnection
from aybiza.store.models import PhoneNumber

CarrierName = Literal["twilio", "sip", "browser", "test"]
Direction = Literal["inbound", "outbound-api"]
INBOUND: Direction = "inbound"
OUTBOUND_API: Direction = "outbound-api"

# Why a call could not be served (recorded as the call's ``ended_reason``).
UNKNOWN_NUMBER = "unknown-number"
SERVER_DRAINING = "server-draining"
CONCURRENCY_LIMIT = "concurrency-limit"
NO_AGENT_VERSION = "no-agent-version"

# A carrier's view of a call's progress, before and around its media.
MachineDetection = Literal["answer", "message_end"]
ProgressStatus = Literal[
    "queued", "ringing", "answered", "completed", "busy", "no-answer", "failed", "canceled"
]


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A call as it reaches the platform, whichever carrier brought it.

    ``platform_number`` is the tenant's number the call concerns: the dialled number of an
    incoming call, the caller id of a call placed through the API. ``call_id`` names the
    platform's record of a call placed through ``POST /v1/calls`` that has now been answered.
    ``account`` is the carrier account the request came from, where the carrier has accounts."""

    carrier: CarrierName
    carrier_call_id: str
    from_number: str
    to_number: str
    platform_number: str
    direction: Direction = INBOUND
    call_id: str | None = None
    account: str | None = None
    custom_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Routed:
    """The call goes to this agent version; its media connection will open the call loop."""

    call_id: str
    tenant_id: str
    agent_id: str
    agent_version: str
    agent_version_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The call cannot be served; ``transfer_to`` is the number's fallback, if any."""

    call_id: str
    tenant_id: str | None
    reason: str
    transfer_to: str | None = None


Admission = Routed | Refused


@dataclass(frozen=True, slots=True)
class CallProgress:
    """A carrier's report that a call moved on (ringing, answered, busy, ended ...).
    ``detail`` is the carrier's own words for an ending (e.g. ``SIP 486 Busy Here``)."""

    carrier_call_id: str
    status: ProgressStatus
    call_id: str | None = None
    from_number: str = ""
    to_number: str = ""
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class MachineAnswer:
    """A carrier's answering-machine detection of an outbound call: who answered, and for a
    machine whether (and how) its greeting has ended. ``detail`` is the carrier's own value."""

    carrier_call_id: str
    answered_by: AnsweredBy
    message_end: MessageEnd | None = None
    call_id: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AfterMedia:
    """What the carrier does once a call's media connection closed: transfer the caller
    (``transfer_to``, with the agent's ``summary`` for a warm transfer), send a call the agent
    never answered to the number's ``fallback``, or hang up (both None)."""

    call_id: str | None = None
    transfer_to: str | None = None
    summary: str = ""
    fallback: str | None = None
    platform_number: str | None = None


MediaRefusal = Literal["unknown-call", "ended", "duplicate", "agent-gone", "compliance"]


class NotTakingCalls(Exception):
    """This server takes no new calls now (it is draining): the carrier should retry the call
    elsewhere (Twilio: HTTP 503)."""


class MediaRefused(Exception):
    """A media connection cannot become a call; the message says why (sent as the close
    reason), ``reason`` says it for code."""

    def __init__(self, message: str, reason: MediaRefusal) -> None:
        super().__init__(message)
        self.reason = reason


class CallIntake(Protocol):
    """What carriers ask of the platform (implemented by ``aybiza.services``)."""

    async def admit(self, call: IncomingCall) -> Admission:
        """Record the call and decide who answers it. Raises ``aybiza.errors.Invalid`` for
        values no carrier would send, ``NotTakingCalls`` while the server drains."""
        ...

    async def open_session(
        self,
        carrier_call_id: str,
        media_id: str,
        connection: MediaConnection,
        *,
        on_line: Callable[[Speaker, str], None] | None = None,
    ) -> CallSession:
        """Build and register the call loop of an admitted call whose media just started;
        ``on_line`` is told each transcript line as stored (a live transcript). Raises
        ``MediaRefused``."""
        ...

    async def progress(self, update: CallProgress) -> None:
        """Move the call's status on; end a call whose media never started."""
        ...

    async def after_media(self, carrier_call_id: str) -> AfterMedia:
        """What follows the media of a call (transfer, fallback or hang up)."""
        ...

    async def transfer_summary(self, call_id: str) -> str:
        """The agent's summary for the person answering a warm transfer ('' if none)."""
        ...

    async def machine_detected(self, verdict: MachineAnswer) -> None:
        """The carrier's answering-machine detection decided: record it on the call and tell
        its call loop (which holds its greeting until then)."""
        ...


@dataclass(frozen=True, slots=True)
class Dial:
    """An outbound call the platform asks a carrier to place. ``field`` names the request
    field that chose ``number`` (for errors about it)."""

    call_id: str
    to: str
    number: PhoneNumber
    field: str
    # The agent asked for the carrier's answering-machine detection (where it has one):
    # ``answer`` to learn who answered, ``message_end`` to also wait for a machine's greeting
    # to end (to leave a message after it); None: no detection.
    machine_detection: MachineDetection | None = None
    # Its tuning, by the agent's ``voicemail`` field names (``machine_detection_timeout_s``...);
    # empty: the carrier's defaults.
    machine_detection_tuning: Mapping[str, int] = dataclasses.field(default_factory=dict)


class CarrierRefused(Exception):
    """The carrier refused or failed a request. ``field`` is ``"to"``, ``"from"`` or None;
    ``carrier_code`` is the carrier's own error code where it gave one; ``gone`` says the
    carrier no longer knows the call (so there is nothing left to end)."""

    def __init__(
        self,
        message: str,
        *,
        field: Literal["to", "from"] | None = None,
        carrier_code: int | None = None,
        gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.carrier_code = carrier_code
        self.gone = gone


class Carrier(Protocol):
    """A way to reach the phone network: places outbound calls and ends calls it carries."""

    name: CarrierName

    def carries(self, number: PhoneNumber) -> bool:
        """Whether this carrier places and ends calls of ``number``."""
        ...

    def origin_problem(self, number: PhoneNumber) -> str | None:
        """Why a call cannot be placed from ``number`` now (missing credentials, no public
        URL), or None."""
        ...

    async def place(self, dial: Dial) -> str:
        """Place the call; returns the carrier's call id. Raises ``CarrierRefused``."""
        ...

    async def hang_up(self, number: PhoneNumber, carrier_call_id: str, *, ringing: bool) -> bool:
        """End a call that has no media yet (``ringing``: still being dialled); False when this
        carrier cannot act for the number. Raises ``CarrierRefused``."""
        ...
