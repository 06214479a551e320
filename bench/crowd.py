"""Many simulated Twilio callers in one process, at a small fixed cost per caller.

``aybiza.simulator.twilio_client.SimulatedCall`` is one caller with three tasks, a timer every
20 ms, a JSON encode, a base64 encode and a lock per frame: right for tests, too heavy for a
benchmark that must keep hundreds of calls at real-time pace from one core. Here one ``Crowd``
per process holds every caller:

- one ticker task: tick ``k`` is due at ``t0 + k * 20 ms`` (a fixed grid, so a late wake-up is
  caught up, never accumulated); on each tick every live caller sends its next inbound frame
  (speech from its current line, or silence) and echoes the marks whose audio has played;
- the frames' payloads are base64-encoded once per process (``Line``), so a ``media`` message is
  one bytes ``%``-format, byte-identical to ``aybiza.simulator.wire.encode``'s JSON;
- frames go out synchronously, each a masked WebSocket text frame written straight to the
  transport (``ClientFrames``; websockets' own ``protocol.send_text`` + ``send_data``, the path
  its ``broadcast`` takes, costs about 40 % more per frame): nothing awaits between numbering a
  message and writing it, so sequence numbers follow the wire order without a lock;
- one receiving task per caller classifies the agent's messages with a prefix check (``json``
  only for marks, clears and anything unusual) and feeds the playback model and the latency clock.

On the wire this is the same Twilio as ``SimulatedCall``: the signed webhook, the signed
WebSocket upgrade, ``connected``, ``start``, numbered ``media`` every 20 ms with ``chunk`` and
``timestamp``, ``mark`` echoed when the audio before it has played (all at once on ``clear``) and
``stop`` on hang-up. The measurements are the same too (``LatencyClock``, ``ReceivedEvent``).

The parts live in modules of their own: one caller (``bench.twilio_caller``), its loudspeaker
(``bench.twilio_speaker``), its lines and messages (``bench.twilio_messages``), the WebSocket
frames (``bench.ws_frames``) and the tick grid (``bench.tick_grid``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from aybiza.simulator import webhook
from aybiza.simulator.errors import NoStreamError
from aybiza.simulator.stream_socket import open_media_stream
from aybiza.simulator.twilio_client import DEFAULT_CALLER
from bench.tick_grid import FRAME_S, MIN_SLEEP_S, frames_due, tick_at, tick_index
from bench.twilio_caller import Caller
from bench.twilio_messages import (
    SILENCE_PAYLOAD,
    Line,
    mark_message,
    mark_template,
    media_message,
    media_template,
    prepare_line,
)
from bench.twilio_speaker import DUE_TOLERANCE_S, Speaker
from bench.ws_frames import CLIENT_FRAMES, ClientFrames

# The crowd's parts, importable from here as before they had modules of their own.
__all__ = [
    "CLIENT_FRAMES",
    "DUE_TOLERANCE_S",
    "FRAME_S",
    "MIN_SLEEP_S",
    "SILENCE_PAYLOAD",
    "Caller",
    "ClientFrames",
    "Crowd",
    "Line",
    "Speaker",
    "frames_due",
    "mark_message",
    "mark_template",
    "media_message",
    "media_template",
    "prepare_line",
    "tick_at",
    "tick_index",
]


class Crowd:
    """Every caller of this process and the one ticker that paces them all.

    ``async with Crowd() as crowd: caller = await crowd.dial(...)``."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        open_timeout_s: float = 10.0,
        phases: int = 1,
    ):
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=15.0,
            # A few webhook connections are reused; close them before uvicorn's 5 s keep-alive
            # timeout does, so a request never races the server closing its connection.
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=2.0),
        )
        self._open_timeout_s = open_timeout_s
        if not 1 <= phases <= 20:
            raise ValueError(f"phases must be 1 to 20, got {phases}")
        # Callers are spread over ``phases`` evenly spaced offsets within the 20 ms frame, as
        # independent calls are: with one phase every caller's frame leaves in the same
        # instant, and the server under test gets all of them in one burst every 20 ms.
        self._phases = phases
        self._sub_s = FRAME_S / phases
        self._slots: list[dict[Caller, None]] = [{} for _ in range(phases)]  # ordered sets
        self._snapshots: list[tuple[Caller, ...]] = [() for _ in range(phases)]
        self._next_slot = 0
        self._handled = -1  # the last sub-tick handled
        self.t0 = time.monotonic()
        self.ticks = 0  # ticks handled (a late wake-up handles the ticks it skipped at once)
        self.late_frames = 0  # frames sent to catch up after a late wake-up
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Crowd:
        self.t0 = time.monotonic()
        self._ticker = asyncio.create_task(self.run_ticker(), name="crowd ticker")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for caller in [caller for slot in self._slots for caller in slot]:
            await caller.hangup()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._own_http:
            await self._http.aclose()

    @property
    def live(self) -> int:
        return sum(len(slot) for slot in self._slots)

    async def dial(
        self,
        base_url: str,
        *,
        to: str,
        from_: str = DEFAULT_CALLER,
        auth_token: str | None = None,
    ) -> Caller:
        """Ring ``to`` like Twilio: the signed webhook, then the TwiML's stream with ``connected``
        and ``start``; the caller then sends a frame on every tick. A server that closes the
        stream at once gives a caller already ``ended``."""
        call_sid = webhook.new_call_sid()
        account_sid = webhook.new_account_sid()
        form = webhook.incoming_call_form(
            call_sid=call_sid, account_sid=account_sid, from_=from_, to=to
        )
        answer = await webhook.post_incoming_call(
            base_url, form, auth_token=auth_token, client=self._http
        )
        if answer.stream_url is None:
            raise NoStreamError(answer.twiml, answer.spoken)
        url = webhook.stream_connect_url(answer.stream_url, base_url)
        signature = webhook.sign(auth_token, answer.stream_url) if auth_token else None
        ws = await open_media_stream(url, signature=signature, open_timeout_s=self._open_timeout_s)
        caller = Caller(
            self,
            ws,
            call_sid=call_sid,
            account_sid=account_sid,
            stream_sid=webhook.new_stream_sid(),
            custom_parameters=answer.custom_parameters,
        )
        caller.start()
        return caller

    def _join(self, caller: Caller, started_at: float) -> None:
        slot = self._next_slot
        self._next_slot = (slot + 1) % self._phases
        caller.slot = slot
        caller.phase_s = slot * self._sub_s
        caller.next_tick = tick_index(started_at - caller.phase_s, self.t0) + 1
        self._slots[slot][caller] = None
        self._snapshots[slot] = tuple(self._slots[slot])

    def _leave(self, caller: Caller) -> None:
        slot = self._slots[caller.slot]
        if caller in slot:
            del slot[caller]
            self._snapshots[caller.slot] = tuple(slot)

    def run_tick(self, now: float) -> int:
        """Everything due at ``now`` for the phases whose sub-tick came since the last call:
        each of their callers' owed frames, then its due marks. Returns the sub-tick handled
        (with one phase, the tick)."""
        due_sub = tick_index(now, self.t0, self._sub_s)
        # The phases whose sub-tick came since the last call (each at most once), and at least
        # the current one: called again within a sub-tick, it still echoes marks fallen due.
        first = min(max(self._handled + 1, due_sub - self._phases + 1), due_sub)
        for sub in range(first, due_sub + 1):
            for caller in self._snapshots[sub % self._phases]:
                try:
                    owed = tick_index(now - caller.phase_s, self.t0) - caller.next_tick + 1
                    if owed > 0:
                        if owed > 1:
                            self.late_frames += owed - 1
                        caller.send_frames(owed)
                    if caller.speaker.next_due <= now:
                        caller.echo_marks(now)
                except Exception as exc:
                    caller._abort(exc)
        self._handled = max(self._handled, due_sub)
        return due_sub

    async def run_ticker(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """The ticker: wake on the grid, send what is due, sleep until the next grid point
        (never "20 ms from now", so a late wake-up does not shift the ones after it).

        A wake-up before the next tick is due (uvloop's timers count whole milliseconds from the
        loop's cached clock, so they may fire a little early) does nothing and sleeps again, at
        least ``MIN_SLEEP_S`` so that it does not spin."""
        t0, period = self.t0, self._sub_s
        handled = -1
        while True:
            now = clock()
            if tick_index(now, t0, period) != handled:
                handled = self.run_tick(now)
                self.ticks += 1
            delay = tick_at(handled + 1, t0, period) - clock()
            await sleep(delay if delay > MIN_SLEEP_S else MIN_SLEEP_S)
