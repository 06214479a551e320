"""A simulated phone call: Twilio's side of a Media Streams WebSocket, at real-time pace.

``SimulatedCall.dial`` does what Twilio does when a number rings: the signed webhook, then the
WebSocket to the TwiML's Stream URL, ``connected`` and ``start``. Three tasks then run per call:
the sender (one inbound frame every 20 ms of wall clock, silence when the caller is quiet), the
receiver (agent messages into the earpiece) and the earpiece's mark echoer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import httpx
from websockets.exceptions import ConnectionClosed

from aybiza.audio.codec import FRAME_MS
from aybiza.simulator import webhook, wire
from aybiza.simulator.caller_audio import CallerAudio
from aybiza.simulator.earpiece import Earpiece, ReceivedEvent, SentMarkEcho
from aybiza.simulator.errors import CallEndedError, NoStreamError
from aybiza.simulator.latency import CallerTurn, LatencyClock
from aybiza.simulator.scripted_call import CarrierName
from aybiza.simulator.stream_socket import StreamSocket
from aybiza.simulator.waiting import CallChanges

DEFAULT_CALLER = "+15558675310"
# Close codes of a call that ended normally (1000) or because the server went away (1001).
NORMAL_CLOSE_CODES = frozenset({1000, 1001})


class SimulatedCall:
    """One call from a simulated caller; build it with ``dial`` or ``connect_stream``. A
    ``ScriptedCall``."""

    carrier: CarrierName = "twilio"

    def __init__(
        self,
        socket: StreamSocket,
        *,
        call_sid: str,
        account_sid: str,
        custom_parameters: Mapping[str, str],
        twiml: str,
    ) -> None:
        self._socket = socket
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.stream_sid = socket.stream_sid
        self.custom_parameters = dict(custom_parameters)
        self.twiml = twiml
        self.opened_at = time.monotonic()
        self.closed_by_server = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.ended_at: float | None = None
        self._earpiece = Earpiece(socket, self.opened_at)
        # The earpiece's own lists, shared so they fill in as the call goes on:
        # every valid agent message in arrival order; names of the marks echoed, in order (and
        # the same with times and whether a clear released them); arrival times of ``clear``s;
        # descriptions of agent messages Twilio would reject.
        self.received_events: list[ReceivedEvent] = self._earpiece.received_events
        self.marks_sent_back: list[str] = self._earpiece.marks_sent_back
        self.mark_echoes: list[SentMarkEcho] = self._earpiece.mark_echoes
        self.clears: list[float] = self._earpiece.clears
        self.protocol_errors: list[str] = self._earpiece.protocol_errors
        self._caller_audio = CallerAudio()
        self._latency = LatencyClock()
        self._changes = CallChanges(lambda: self.ended_at is not None)
        self._hanging_up = False
        self._sender: asyncio.Task[None] | None = None
        self._receiver = asyncio.create_task(self._receive(), name=f"receive {call_sid}")
        self._echoer = asyncio.create_task(self._earpiece.echo_marks(), name=f"marks {call_sid}")

    @classmethod
    async def dial(
        cls,
        base_url: str,
        *,
        to: str,
        from_: str = DEFAULT_CALLER,
        auth_token: str | None = None,
        account_sid: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        open_timeout_s: float = 10.0,
    ) -> SimulatedCall:
        """Ring ``to`` on the server at ``base_url`` like Twilio: signed webhook, then the media
        stream the TwiML names, with ``connected`` and ``start`` sent and frames flowing.

        Raises ServerUnreachableError, WebhookError, NoStreamError or StreamRejectedError. A
        server that accepts the socket and closes it at once gives a call already ``ended``.
        """
        call_sid = webhook.new_call_sid()
        account_sid = account_sid or webhook.new_account_sid()
        form = webhook.incoming_call_form(
            call_sid=call_sid, account_sid=account_sid, from_=from_, to=to
        )
        answer = await webhook.post_incoming_call(
            base_url, form, auth_token=auth_token, client=http_client
        )
        if answer.stream_url is None:
            raise NoStreamError(answer.twiml, answer.spoken)
        return await cls.connect_stream(
            webhook.stream_connect_url(answer.stream_url, base_url),
            signed_url=answer.stream_url,
            custom_parameters=answer.custom_parameters,
            auth_token=auth_token,
            call_sid=call_sid,
            account_sid=account_sid,
            twiml=answer.twiml,
            open_timeout_s=open_timeout_s,
        )

    @classmethod
    async def connect_stream(
        cls,
        ws_url: str,
        *,
        custom_parameters: Mapping[str, str] | None = None,
        auth_token: str | None = None,
        call_sid: str | None = None,
        account_sid: str | None = None,
        stream_sid: str | None = None,
        signed_url: str | None = None,
        send_start: bool = True,
        twiml: str = "",
        open_timeout_s: float = 10.0,
    ) -> SimulatedCall:
        """Open the media stream directly (no webhook) and send ``connected``, then ``start``
        unless ``send_start`` is false (then call ``start_stream`` or ``send_raw`` yourself).

        ``X-Twilio-Signature`` signs ``signed_url``: by default ``ws_url`` with ``ws://`` read
        as ``wss://``, the URL a server behind TLS reconstructs.
        """
        signed = signed_url or ("wss://" + ws_url.removeprefix("ws://"))
        socket = await StreamSocket.open(
            ws_url,
            stream_sid=stream_sid or webhook.new_stream_sid(),
            signature=webhook.sign(auth_token, signed) if auth_token else None,
            open_timeout_s=open_timeout_s,
        )
        call = cls(
            socket,
            call_sid=call_sid or webhook.new_call_sid(),
            account_sid=account_sid or webhook.new_account_sid(),
            custom_parameters=custom_parameters or {},
            twiml=twiml,
        )
        if send_start:
            # A server refusing the stream after accepting it closes the socket: the call comes
            # back ended, with close_code and close_reason saying why.
            with contextlib.suppress(CallEndedError):
                await call.start_stream()
        return call

    async def start_stream(self) -> None:
        """Send ``start`` (the first numbered message) and begin a frame every 20 ms."""
        if self._sender is not None:
            raise RuntimeError("start_stream() was already called for this call")
        self._ensure_live()
        body = wire.start_body(
            stream_sid=self.stream_sid,
            account_sid=self.account_sid,
            call_sid=self.call_sid,
            custom_parameters=self.custom_parameters,
        )
        try:
            await self._socket.send("start", body)
        except ConnectionClosed as exc:
            await asyncio.gather(self._receiver, return_exceptions=True)  # records the close
            raise CallEndedError(
                f"the server closed the stream before start (code {self.close_code}, "
                f"reason {self.close_reason!r})"
            ) from exc
        started_at = time.monotonic()
        self._latency.stream_started(started_at)
        self._sender = asyncio.create_task(self._send_frames(started_at), name="frames")

    async def send_raw(self, text: str) -> bool:
        """Send ``text`` as one frame, as is (malformed-message tests); no sequence number.

        Returns False, sending nothing, once the socket has closed: a test flooding a server
        with bad messages then reads ``close_code`` rather than catching a send error.
        """
        try:
            await self._socket.send_raw(text)
        except ConnectionClosed:
            return False
        return True

    async def say(self, mulaw: bytes) -> None:
        """Speak ``mulaw`` (μ-law 8 kHz) in the 20 ms frames, at real-time pace, after anything
        already queued; return when its last frame was sent. The agent's answer is timed from
        the send of its last voiced frame."""
        self._ensure_live()
        if self._sender is None:
            raise RuntimeError("say() needs the stream started; call start_stream() first")
        if not mulaw:
            return
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._caller_audio.queue(mulaw, sent)
        self._latency.caller_started()
        await sent

    async def send_dtmf(self, digit: str) -> None:
        """Press one key (``0``-``9``, ``*``, ``#``); the agent's answer is timed from here."""
        body = wire.dtmf_body(digit)
        self._ensure_live()
        try:
            await self._socket.send("dtmf", body)
        except ConnectionClosed as exc:
            raise CallEndedError("the call ended before the key press was sent") from exc
        self._latency.caller_stopped("dtmf", time.monotonic())
        self._notify()

    async def hangup(self) -> None:
        """Hang up: send ``stop``, close the socket and stop the tasks. Idempotent."""
        if not self._hanging_up:
            self._hanging_up = True
            await _cancel(self._sender)
            await _cancel(self._echoer)
            if self.ended_at is None:
                body = wire.stop_body(account_sid=self.account_sid, call_sid=self.call_sid)
                with contextlib.suppress(ConnectionClosed):
                    await self._socket.send("stop", body)
                await self._socket.close()
        await asyncio.gather(self._receiver, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.hangup()

    # The e2e tests and benchmarks call these with ``timeout=``; the waits also return or raise
    # on the call ending, which asyncio.timeout around them could not express.
    async def wait_for_agent_audio(self, timeout: float) -> float:  # noqa: ASYNC109
        """Wait for the agent's answer to the caller's latest action (or for the greeting) and
        return its latency in seconds. Raises TimeoutError, or CallEndedError if the call ends."""
        return await self._changes.answer(self._latency, timeout)

    async def wait_until_agent_done(self, *, quiet_ms: int = 1200, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the agent's queued audio has played and no media came for ``quiet_ms``;
        return at once if the call has ended. Raises TimeoutError."""

        def idle_at() -> float:
            playing_until = self._earpiece.playback.playing_until()
            return max(playing_until, self._earpiece.last_media_at + quiet_ms / 1000)

        await self._changes.quiet(idle_at, timeout)

    async def wait_for_agent_bytes(self, count: int, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the agent has sent ``count`` bytes of audio in all; return at once if the
        call has ended. Raises TimeoutError."""

        def enough() -> bool:
            return sum(e.byte_count for e in self.received_events if e.kind == "media") >= count

        await self._changes.wait_until(enough, timeout)

    async def wait_until_ended(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the call is over (the server closed the stream). Raises TimeoutError."""
        await self._changes.wait_until(lambda: False, timeout)

    @property
    def local_port(self) -> int:
        """The TCP port of the caller's end of the media stream."""
        return self._socket.local_port

    @property
    def ending(self) -> str:
        """``close code N`` once the server closed the stream; empty before."""
        return f"close code {self.close_code}" if self.closed_by_server else ""

    @property
    def end_problem(self) -> str | None:
        """The close code and reason when the server closed the stream abnormally."""
        if not self.closed_by_server or self.close_code in NORMAL_CLOSE_CODES:
            return None
        return (
            f"the server closed the stream with code {self.close_code} "
            f"({self.close_reason or 'no reason given'})"
        )

    @property
    def played_audio(self) -> bytes:
        """What the caller heard so far: the agent's audio as played, silence in the gaps."""
        return self._earpiece.playback.played_audio(self.ended_at or time.monotonic())

    @property
    def started_at(self) -> float | None:
        """When ``start`` was sent (monotonic seconds), None before."""
        return self._latency.started_at

    @property
    def greeting_latency(self) -> float | None:
        """Seconds from ``start`` to the first agent audio, if it came before the caller spoke."""
        return self._latency.greeting_latency_s

    @property
    def caller_turns(self) -> list[CallerTurn]:
        """Every utterance and key press, with when it ended and when the agent answered."""
        return list(self._latency.turns)

    @property
    def turn_latencies(self) -> list[float]:
        """Voice-to-voice seconds of each answered caller turn, in order."""
        return [t.latency_s for t in self._latency.turns if t.latency_s is not None]

    @property
    def ended(self) -> bool:
        """Whether the call is over (hung up or closed by the server)."""
        return self.ended_at is not None

    async def _send_frames(self, started_at: float) -> None:
        # Frame k is due at start + k*20 ms: a late wake-up is caught up, never accumulated.
        chunk = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                chunk += 1
                delay = started_at + chunk * FRAME_MS / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                frame = self._caller_audio.next_frame()
                body = wire.media_body(
                    chunk=chunk, timestamp_ms=chunk * FRAME_MS, payload=frame.audio
                )
                await self._socket.send("media", body)
                if frame.speech_ends is not None:
                    self._latency.caller_stopped("speech", time.monotonic())
                    self._notify()
                if frame.utterance_ends is not None and not frame.utterance_ends.sent.done():
                    frame.utterance_ends.sent.set_result(None)

    async def _receive(self) -> None:
        try:
            async for data in self._socket.messages():
                now = time.monotonic()
                message = self._earpiece.handle(data, now)
                if isinstance(message, wire.AgentMedia):
                    self._latency.agent_audio(now)
                if message is not None:
                    self._notify()
        finally:
            self.closed_by_server = not self._hanging_up
            self.close_code = self._socket.close_code
            self.close_reason = self._socket.close_reason
            self.ended_at = time.monotonic()
            self._caller_audio.abandon(CallEndedError("the call ended before the caller finished"))
            for task in (self._sender, self._echoer):
                if task is not None:
                    task.cancel()
            self._notify()

    def _ensure_live(self) -> None:
        if self.ended_at is not None or self._hanging_up:
            raise CallEndedError(f"call {self.call_sid} is over")

    def _notify(self) -> None:
        self._changes.notify()


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
