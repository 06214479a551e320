"""Many simulated SIP callers in one process, at a small fixed cost per caller.

The SIP twin of ``bench.crowd``: the signalling of every caller goes through one
``SipEndpoint`` (INVITE with an SDP offer, ACK, BYE, and the server's BYE answered), and one
ticker on a fixed 20 ms grid sends each live caller's next RTP packet: its 12-byte header
packed into the caller's own buffer, the μ-law frame (speech from its current line, or silence)
copied in behind it, one ``sendto``. No JSON and no base64 on either side. Callers' packets
leave at ``phases`` evenly spaced offsets within the 20 ms, as independent calls' do.

What the caller hears is classified per packet: a payload of μ-law silence (what the server
sends while it has nothing to say) is quiet, anything else is the agent's audio, timed by the
same ``LatencyClock`` as the Twilio crowd. The agent's audio stopping while the caller speaks is
the SIP form of Twilio's ``clear`` (a barge-in taking effect).

Audible gaps are judged by ``bench.sip_playout.PhonePlayout``.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aybiza.simulator.sip_dialer import (
    SipCallError,
    bind_rtp_pair,
    caller_invite,
    place_invite,
    resolve_target,
)
from aybiza.simulator.twilio_client import DEFAULT_CALLER
from aybiza.telephony.sip.dialog import Dialog
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.offer_answer import SdpSession
from aybiza.telephony.sip.sdp import SessionDescription
from aybiza.telephony.sip.server_transaction import ServerTransaction
from aybiza.telephony.sip.transaction_table import IncomingRequest
from aybiza.telephony.sip.transport import Peer
from bench.sip_caller import SipCaller
from bench.tick_grid import FRAME_S, MIN_SLEEP_S, tick_at, tick_index


class SipCrowd:
    """Every SIP caller of this process, one ``SipEndpoint`` and the one ticker.

    ``async with SipCrowd() as crowd: caller = await crowd.dial("sip:+1555...@127.0.0.1:5060")``
    """

    def __init__(self, *, phases: int = 1) -> None:
        if not 1 <= phases <= 20:
            raise ValueError(f"phases must be 1 to 20, got {phases}")
        self.endpoint = SipEndpoint(self)
        self._phases = phases
        self._sub_s = FRAME_S / phases
        self._slots: list[dict[SipCaller, None]] = [{} for _ in range(phases)]
        self._snapshots: list[tuple[SipCaller, ...]] = [() for _ in range(phases)]
        self._next_slot = 0
        self._handled = -1
        self._calls: dict[str, SipCaller] = {}
        self._acks: dict[str, Request] = {}
        self.t0 = time.monotonic()
        self._ticker: asyncio.Task[None] | None = None
        self._listening = False

    async def __aenter__(self) -> SipCrowd:
        self.t0 = time.monotonic()
        self._ticker = asyncio.create_task(self._run_ticker(), name="sip crowd ticker")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for caller in list(self._calls.values()):
            await caller.hangup()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.endpoint.close()

    async def dial(
        self, uri: str, *, from_: str = DEFAULT_CALLER, timeout_s: float = 15.0
    ) -> SipCaller:
        """INVITE ``uri`` and start sending RTP once the 2xx is acknowledged."""
        target = await resolve_target(uri)
        if not self._listening:
            await self.endpoint.listen(target.peer.transport, target.local_host, 0)
            self._listening = True
        sockets = bind_rtp_pair(target.local_host)
        sdp = SdpSession(target.local_host, sockets.port, username="aybiza-bench")
        call_id = f"{uuid.uuid4().hex}@{target.local_host}"
        invite = caller_invite(
            self.endpoint, target, call_id=call_id, from_number=from_,
            offer=sdp.offer().serialize(),
        )  # fmt: skip
        try:
            attempt, response = await place_invite(self.endpoint, target, invite, None, timeout_s)
        except SipCallError:
            sockets.close()
            raise
        dialog = Dialog.as_uac(attempt.request, response)
        via = self.endpoint.transport(target.peer.transport).via()
        ack = dialog.ack(attempt.request.cseq.number, via)
        attempt.ack, attempt.send_ack = ack, self.endpoint.send_stateless
        params = sdp.accept_answer(SessionDescription.parse(response.body))
        caller = SipCaller(self, dialog, target.peer, sockets)
        caller.target = (params.remote_address or target.peer.host, params.remote_port)
        caller.payload_type = params.payload_type
        self._calls[call_id] = caller
        self._acks[call_id] = ack
        await caller.open_media()
        now = time.monotonic()
        caller.latency.stream_started(now)
        caller.opened_at = now
        self.endpoint.send_stateless(ack, target.peer)
        self._join(caller, now)
        return caller

    # -- TransactionUser: what the server sends

    def request_received(self, incoming: IncomingRequest, peer: Peer) -> None:
        request, transaction = incoming.request, incoming.transaction
        if transaction is None:
            return
        caller = self._calls.get(request.call_id)
        if caller is None or not caller.dialog.matches_request(request):
            transaction.respond(request.response(481))
            return
        status = caller.dialog.receive_request(request)
        if status is not None:
            transaction.respond(request.response(status))
        elif request.method == "BYE":
            transaction.respond(request.response(200))
            caller.far_end_hung_up()
        elif request.method == "INVITE":
            transaction.respond(request.response(488))  # no re-INVITE in the benchmark
        else:
            transaction.respond(request.response(200))

    def stray_response(self, response: Response, peer: Peer) -> None:
        ack = self._acks.get(response.call_id)
        if ack is not None and response.cseq.method == "INVITE" and response.status < 300:
            self.endpoint.send_stateless(ack, peer)

    def server_timeout(self, transaction: ServerTransaction) -> None:
        return None

    # -- the ticker (as bench.crowd.Crowd)

    def _join(self, caller: SipCaller, started_at: float) -> None:
        slot = self._next_slot
        self._next_slot = (slot + 1) % self._phases
        caller.slot = slot
        caller.phase_s = slot * self._sub_s
        caller.next_tick = tick_index(started_at - caller.phase_s, self.t0) + 1
        self._slots[slot][caller] = None
        self._snapshots[slot] = tuple(self._slots[slot])

    def leave(self, caller: SipCaller) -> None:
        slot = self._slots[caller.slot]
        if caller in slot:
            del slot[caller]
            self._snapshots[caller.slot] = tuple(slot)

    def run_tick(self, now: float) -> int:
        due_sub = tick_index(now, self.t0, self._sub_s)
        first = min(max(self._handled + 1, due_sub - self._phases + 1), due_sub)
        for sub in range(first, due_sub + 1):
            for caller in self._snapshots[sub % self._phases]:
                owed = tick_index(now - caller.phase_s, self.t0) - caller.next_tick + 1
                if owed > 0:
                    caller.send_frames(owed)
        self._handled = max(self._handled, due_sub)
        return due_sub

    async def _run_ticker(self) -> None:
        t0, period = self.t0, self._sub_s
        handled = -1
        while True:
            now = time.monotonic()
            if tick_index(now, t0, period) != handled:
                handled = self.run_tick(now)
            delay = tick_at(handled + 1, t0, period) - time.monotonic()
            await asyncio.sleep(delay if delay > MIN_SLEEP_S else MIN_SLEEP_S)
