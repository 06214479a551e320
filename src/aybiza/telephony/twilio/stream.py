"""``WS /twilio/stream``: Twilio Media Streams in, the call loop, audio/marks/clear out.

The wire format is ``aybiza.telephony.twilio.wire``; this module is the connection: it reads
messages in order, hands the first valid ``start`` to the platform's ``CallIntake`` and feeds the
call loop it gets back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from aybiza.analytics import metrics
from aybiza.audio.codec import FRAME_BYTES
from aybiza.config import Settings
from aybiza.direct_websocket import EXTENSION, DirectSocket
from aybiza.pipeline.session import CallSession
from aybiza.store.models import Call, PhoneNumber
from aybiza.store.queries import is_row_id
from aybiza.store.writer import StoreWriter
from aybiza.telephony.carrier import CallIntake, MediaRefused
from aybiza.telephony.twilio.accounts import TwilioAccounts
from aybiza.telephony.twilio.signature import public_url, websocket_signature_valid
from aybiza.telephony.twilio.wire import (
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    WireError,
    clear_message,
    mark_message,
    media_message,
    parse_message,
)
from aybiza.timeouts import within

router = APIRouter()
log = structlog.get_logger(__name__)

# A stream must send a valid `start` within this time (or this many messages) to become a call.
START_TIMEOUT_S = 10.0
MAX_MESSAGES_BEFORE_START = 100
# Log only the first few malformed messages of a stream; all are counted.
_MALFORMED_LOG_LIMIT = 5
POLICY_VIOLATION = 1008


class TwilioMediaConnection:
    """The call loop's ``MediaConnection`` over a Media Streams WebSocket."""

    def __init__(
        self, websocket: WebSocket, stream_sid: str, direct: DirectSocket | None = None
    ) -> None:
        self._websocket = websocket
        self._stream_sid = stream_sid
        self._direct = direct
        self.closed = False

    async def _send(self, text: str) -> None:
        if self.closed:
            return
        try:
            if self._direct is not None:
                await self._direct.send_text(text)
            else:
                await self._websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True

    async def send_media(self, mulaw: bytes) -> None:
        await self._send(media_message(self._stream_sid, mulaw))

    async def send_mark(self, name: str) -> None:
        await self._send(mark_message(self._stream_sid, name))

    async def send_clear(self) -> None:
        await self._send(clear_message(self._stream_sid))

    async def send_digits(self, digits: str) -> bool:
        """Media Streams carry no keypad events from the application: play them as tones."""
        return False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await self._websocket.close(code, reason)


def _signature_ok(websocket: WebSocket, settings: Settings, token: str | None) -> bool:
    if not token:
        return True
    signature = websocket.headers.get("x-twilio-signature", "")
    host = websocket.headers.get("host", websocket.url.netloc)
    # Twilio signs the wss:// URL from the TwiML; behind a TLS proxy this server sees ws://.
    for scheme in ("wss", websocket.url.scheme):
        url = public_url(
            configured=settings.public_url,
            scheme=scheme,
            host=host,
            path=websocket.url.path,
            query=websocket.url.query,
            websocket=True,
        )
        if websocket_signature_valid(token, url, signature):
            return True
    return False


async def _token(websocket: WebSocket, call_id: str | None) -> str | None:
    """The auth token Twilio signed the upgrade with: the platform's, or for a call on a
    customer's own Twilio number (whose TwiML names the call in the path) the customer's."""
    settings: Settings = websocket.app.state.settings
    if call_id is None or not is_row_id(call_id):
        return settings.twilio_auth_token
    accounts: TwilioAccounts = websocket.app.state.twilio_accounts
    async with websocket.app.state.database.session() as session:
        call = await session.get(Call, call_id)
        number_id = call.phone_number_id if call is not None else None
        number = await session.get(PhoneNumber, number_id) if number_id else None
    return accounts.webhook_token(number)


@router.websocket("/twilio/stream")
@router.websocket("/twilio/stream/{call_id}")
async def media_stream(websocket: WebSocket, call_id: str | None = None) -> None:
    settings: Settings = websocket.app.state.settings
    if not _signature_ok(websocket, settings, await _token(websocket, call_id)):
        metrics.STREAMS_REJECTED.labels("bad-signature").inc()
        await websocket.close(code=POLICY_VIOLATION, reason="invalid X-Twilio-Signature")
        return
    await websocket.accept()
    stream = _Stream(websocket, websocket.app.state.calls, websocket.app.state.writer)
    await stream.run()


class _Stream:
    """Reads one Media Streams connection until it ends, feeding the call loop in order."""

    def __init__(self, websocket: WebSocket, intake: CallIntake, writer: StoreWriter) -> None:
        self._websocket = websocket
        self._intake = intake
        self._writer = writer
        self._session: CallSession | None = None
        self._transport: TwilioMediaConnection | None = None
        self._pending = b""
        self._malformed = 0
        self._before_start = 0
        self._opened = time.monotonic()
        self._direct: DirectSocket | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            direct = self._websocket.scope.get("extensions", {}).get(EXTENSION)
            if isinstance(direct, DirectSocket):
                self._direct = direct
                await self._read_direct(direct)
            else:
                await self._read_asgi()
        except WebSocketDisconnect:
            pass
        finally:
            if self._session is not None:
                await self._session.end("stream-closed")
            if self._watcher is not None:
                self._watcher.cancel()

    def _start_timeout(self) -> float:
        return START_TIMEOUT_S - (time.monotonic() - self._opened)

    async def _read_asgi(self) -> None:
        receive = self._websocket.receive
        while True:
            if self._session is None:
                timeout = self._start_timeout()
                if timeout <= 0:
                    await self._reject("no valid start message within 10 s", "no-start")
                    return
                try:
                    message = await within(receive(), timeout)
                except TimeoutError:
                    continue
            else:
                # Fifty messages a second per call: no timeout wrapper (wait_for costs a
                # getpid() system call and a coroutine per message).
                message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = message.get("bytes") or b""
            if not await self._handle(text):
                return

    async def _read_direct(self, direct: DirectSocket) -> None:
        """The same reading straight from the protocol (``direct_websocket.py``): no ASGI
        message, queue or receive coroutine per message. Once the call has started, each
        message is handled from the socket's own callback as it arrives (``serve``): no task
        wakes for a frame the call loop takes without waiting."""
        direct.attach()
        while self._session is None:
            if self._start_timeout() <= 0:
                await self._reject("no valid start message within 10 s", "no-start")
                return
            text = direct.next_message()
            if text is not None:
                if not await self._handle(text):
                    return
            elif direct.closed_code is not None:
                return
            else:
                with contextlib.suppress(TimeoutError):
                    await within(direct.wait(), max(self._start_timeout(), 0.0))
        await direct.serve(self._handle)

    async def _handle(self, text: str | bytes) -> bool:
        """Act on one message; False when the stream was closed."""
        try:
            event = parse_message(text)
        except WireError as exc:
            self._malformed += 1
            metrics.MALFORMED_MESSAGES.inc()
            if self._session is not None:
                self._session.stats.malformed_messages = self._malformed
            if self._malformed <= _MALFORMED_LOG_LIMIT:
                log.warning("stream.malformed_message", error=str(exc), count=self._malformed)
            return await self._count_before_start()
        session = self._session
        if session is None:
            if isinstance(event, Start):
                return await self._start(event)
            return await self._count_before_start()
        if isinstance(event, Media):
            await self._audio(session, event.payload)
        elif isinstance(event, Mark):
            session.on_mark(event.name)
        elif isinstance(event, Dtmf):
            await session.on_dtmf(event.digit)
        elif isinstance(event, Stop):
            await self._finish(session, "caller-hangup")
            return False
        elif isinstance(event, Start):
            # Never a second loop for one call: the first start stands.
            session.warn(f"a second start message ({event.stream_sid}) was ignored")
        return True

    async def _count_before_start(self) -> bool:
        if self._session is not None:
            return True
        self._before_start += 1
        if self._before_start > MAX_MESSAGES_BEFORE_START:
            await self._reject(
                f"no valid start message in the first {MAX_MESSAGES_BEFORE_START}", "no-start"
            )
            return False
        return True

    async def _start(self, start: Start) -> bool:
        transport = TwilioMediaConnection(self._websocket, start.stream_sid, self._direct)
        try:
            session = await self._intake.open_session(start.call_sid, start.stream_sid, transport)
        except MediaRefused as exc:
            hint = ": calls must arrive through POST /twilio/voice first"
            await self._reject(
                str(exc) + (hint if exc.reason == "unknown-call" else ""), exc.reason
            )
            return False
        self._session, self._transport = session, transport
        await session.start()
        self._watcher = asyncio.create_task(self._close_when_finished(session))
        return True

    async def _audio(self, session: CallSession, payload: bytes) -> None:
        # Twilio sends 160-byte frames; re-frame anything else so the VAD always sees 20 ms.
        if len(payload) == FRAME_BYTES and not self._pending:
            await session.on_audio(payload)
            return
        data = self._pending + payload
        end = len(data) - len(data) % FRAME_BYTES
        for offset in range(0, end, FRAME_BYTES):
            await session.on_audio(data[offset : offset + FRAME_BYTES])
        self._pending = data[end:]

    async def _finish(self, session: CallSession, reason: str) -> None:
        await session.end(reason)
        await self._writer.flush()
        if self._transport is not None:
            await self._transport.close()

    async def _close_when_finished(self, session: CallSession) -> None:
        """The agent ended the call (or its time ran out): close the socket so Twilio moves on
        to the TwiML after the stream (transfer or hang-up)."""
        await session.finished.wait()
        await self._writer.flush()
        if self._transport is not None:
            await self._transport.close(1000, session.ended_reason or "")

    async def _reject(self, reason: str, label: str) -> None:
        metrics.STREAMS_REJECTED.labels(label).inc()
        log.warning("stream.rejected", reason=reason)
        if self._websocket.client_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(RuntimeError, OSError):
                await self._websocket.close(code=POLICY_VIOLATION, reason=reason[:120])
