"""One browser call over its socket: open the call loop of an admitted call, feed it the
browser's frames and control messages in order, and close the socket when the call is over.
Who may call and which agent answers were decided before (``aybiza.api.talk_page``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from aybiza.audio.codec import FRAME_BYTES
from aybiza.pipeline.session import CallSession
from aybiza.telephony.browser.connection import BrowserMediaConnection
from aybiza.telephony.browser.wire import (
    Dtmf,
    Hangup,
    Mark,
    WireError,
    parse_control,
    start_message,
)
from aybiza.telephony.carrier import CallIntake, MediaRefused

log = structlog.get_logger(__name__)
POLICY_VIOLATION = 1008
# Malformed control messages tolerated before the call is ended (a broken page).
MAX_MALFORMED = 20


class BrowserCall:
    """Runs the media of the admitted call ``carrier_call_id`` over ``websocket``."""

    def __init__(
        self,
        websocket: WebSocket,
        intake: CallIntake,
        carrier_call_id: str,
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self._websocket = websocket
        self._flush = flush
        self._intake = intake
        self._carrier_call_id = carrier_call_id
        self._connection = BrowserMediaConnection(websocket)
        self._pending = b""
        self._malformed = 0

    async def run(self, call_id: str) -> None:
        """Until the caller hangs up, the socket drops or the agent ends the call."""
        connection = self._connection
        connection.start()
        try:
            session = await self._intake.open_session(
                self._carrier_call_id,
                self._carrier_call_id,
                connection,
                on_line=connection.transcript,
            )
        except MediaRefused as exc:
            await connection.close(POLICY_VIOLATION, str(exc))
            return
        connection.send_text(start_message(call_id))
        await session.start()
        watcher = asyncio.create_task(self._close_when_finished(session))
        reason = "stream-closed"
        try:
            reason = await self._read(session)
        except (WebSocketDisconnect, RuntimeError, OSError):
            # The socket went away under the read (Starlette raises RuntimeError once closed).
            reason = "stream-closed"
        finally:
            await session.end(reason)
            await session.finished.wait()
            await watcher

    async def _read(self, session: CallSession) -> str:
        """Feed the call loop; returns why the caller's side ended."""
        receive = self._websocket.receive
        while not session.finished.is_set():
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return "stream-closed"
            data = message.get("bytes")
            if data is not None:
                await self._audio(session, data)
                continue
            try:
                event = parse_control(message.get("text") or "")
            except WireError as exc:
                self._malformed += 1
                session.stats.malformed_messages = self._malformed
                if self._malformed > MAX_MALFORMED:
                    return "stream-failed"
                log.warning("browser.malformed_message", error=str(exc))
                continue
            if isinstance(event, Mark):
                session.on_mark(event.name)
            elif isinstance(event, Dtmf):
                await session.on_dtmf(event.digit)
            elif isinstance(event, Hangup):
                return "caller-hangup"
        return session.ended_reason or "stream-closed"

    async def _audio(self, session: CallSession, payload: bytes) -> None:
        # The page sends 160-byte frames; re-frame anything else so the VAD always sees 20 ms.
        data = self._pending + payload
        end = len(data) - len(data) % FRAME_BYTES
        for offset in range(0, end, FRAME_BYTES):
            await session.on_audio(data[offset : offset + FRAME_BYTES])
        self._pending = data[end:]

    async def _close_when_finished(self, session: CallSession) -> None:
        await session.finished.wait()
        # The call's end is stored before the page hears of it (it may fetch the record).
        await self._flush()
        with contextlib.suppress(Exception):
            await self._connection.close(1000, session.ended_reason or "")
