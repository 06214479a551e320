"""One call's Deepgram live-transcription stream, and opening its socket (PROTOCOLS.md 3).

Twilio's μ-law goes to ``/v1/listen`` untouched; results come back as ``SttEvent``s (see
``deepgram_results``). No caller words are lost when the socket drops: the stream keeps the audio
Deepgram has not finalized yet, reconnects, and sends that audio again before any new audio.
Reconnects back off and are capped per minute (``reconnect_budget``); past the cap, or when
reconnecting keeps failing, ``events()`` raises ``ReconnectGaveUpError``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from aybiza.analytics import metrics
from aybiza.providers.base import SttEvent
from aybiza.providers.errors import (
    AuthenticationError,
    EngineError,
    EngineUnavailableError,
    InvalidRequestError,
    ReconnectGaveUpError,
    status_error,
)
from aybiza.providers.stt.deepgram_results import LanguageMatcher, parse_listen_message
from aybiza.providers.stt.reconnect_budget import ReconnectBudget, ReconnectLimits

log = structlog.get_logger(__name__)

ENGINE = "deepgram"
# Deepgram refuses a key that lacks the permission with 403: the credentials are at fault.
DEEPGRAM_STATUSES = {403: AuthenticationError}
BYTES_PER_SECOND = 8000  # μ-law 8 kHz mono: one byte per sample
# Audio kept for resending is capped: a stream whose results stopped coming for this long has a
# problem no resend will fix, and a call must not grow without bound.
MAX_UNACKNOWLEDGED_S = 60
_RESEND_CHUNK_BYTES = BYTES_PER_SECOND  # resend in 1 s frames rather than one huge message
_KEEPALIVE = json.dumps({"type": "KeepAlive"})
_FINALIZE = json.dumps({"type": "Finalize"})
_CLOSE_STREAM = json.dumps({"type": "CloseStream"})


@dataclass(frozen=True, slots=True)
class ListenSettings:
    """What every stream of one ``DeepgramStt`` shares (see its docstring)."""

    api_key: str
    keepalive_interval_s: float
    reconnect_attempts: int
    reconnect_limits: ReconnectLimits
    connect_timeout_s: float
    close_timeout_s: float


class DeepgramStream:
    """One call's live transcription; implements ``SttStream``. Made by ``DeepgramStt``.

    Audio sent but not yet covered by a final result is kept (up to ``MAX_UNACKNOWLEDGED_S``).
    Offsets below are bytes from the start of the call's audio; Deepgram's times are seconds
    from the start of the current connection, which begins at ``_connection_start``.
    """

    def __init__(
        self,
        socket: ClientConnection,
        url: str,
        settings: ListenSettings,
        languages: LanguageMatcher | None,
    ) -> None:
        self._socket = socket
        self._url = url
        self._settings = settings
        self._languages = languages
        self._unacknowledged = bytearray()
        self._unacknowledged_start = 0  # offset of _unacknowledged[0]
        self._transmitted = 0  # offset up to which this connection has been sent audio
        self._connection_start = 0
        self._last_sent = time.monotonic()
        self._ready = True  # the socket is open and caught up: live audio may go straight out
        self._finalize_after_reconnect = False
        self._closing = False
        self._closed = False
        self._trim_logged = False
        self._budget = ReconnectBudget(ENGINE, settings.reconnect_limits)
        self._events: asyncio.Queue[SttEvent | EngineError | None] = asyncio.Queue()
        self._receiver = asyncio.create_task(self._receive(), name="deepgram-stt-receive")
        self._keepalive = asyncio.create_task(self._keep_alive(), name="deepgram-stt-keepalive")

    async def send_audio(self, mulaw: bytes) -> None:
        """Send caller audio as is. Never waits for a reconnect: during one, audio is kept and
        goes out after the unacknowledged tail. Ignored once the stream is closed or failed."""
        if self._closing or not mulaw or self._receiver.done():
            return
        self._unacknowledged += mulaw
        overflow = len(self._unacknowledged) - MAX_UNACKNOWLEDGED_S * BYTES_PER_SECOND
        if overflow > 0:
            del self._unacknowledged[:overflow]
            self._unacknowledged_start += overflow
            if not self._trim_logged:
                self._trim_logged = True
                log.warning(
                    "stt.deepgram.unacknowledged_audio_trimmed", kept_s=MAX_UNACKNOWLEDGED_S
                )
        if self._ready:
            await self._transmit()

    async def finalize(self) -> None:
        """Ask Deepgram for the final result of the audio so far (sent after the audio)."""
        if self._closing or self._receiver.done():
            return
        if not (self._ready and await self._send_text(_FINALIZE)):
            self._finalize_after_reconnect = True

    @property
    def reconnects(self) -> int:
        """Reconnects made so far (each after an unexpected close or a failed attempt)."""
        return self._budget.total

    async def events(self) -> AsyncGenerator[SttEvent, None]:
        """Recognition events until the stream is closed. Raises ``ReconnectGaveUpError`` (an
        ``EngineUnavailableError``) when the socket dropped and the stream gave up
        reconnecting: the call should continue on another recogniser."""
        while (item := await self._events.get()) is not None:
            if isinstance(item, EngineError):
                self._events.put_nowait(None)
                raise item
            yield item
        self._events.put_nowait(None)  # any later call of events() ends too

    async def close(self) -> None:
        """CloseStream, wait briefly for the last results, then close. Idempotent."""
        if self._closed:
            return
        self._closed = self._closing = True
        self._keepalive.cancel()
        if self._ready and await self._send_text(_CLOSE_STREAM):
            # Deepgram answers with its last Results and a Metadata, then closes the socket.
            await asyncio.wait({self._receiver}, timeout=self._settings.close_timeout_s)
        self._ready = False
        self._receiver.cancel()
        await asyncio.gather(self._receiver, self._keepalive, return_exceptions=True)
        await self._socket.close()  # the receiver is done: this is the last socket it opened
        self._events.put_nowait(None)

    # ------------------------------------------------------------------ sending

    async def _transmit(self) -> None:
        """Send all kept audio this connection has not had yet, in order."""
        socket = self._socket
        while True:
            start = max(self._transmitted, self._unacknowledged_start)
            end = self._unacknowledged_start + len(self._unacknowledged)
            if start >= end:
                return
            first = start - self._unacknowledged_start
            chunk = bytes(self._unacknowledged[first : first + _RESEND_CHUNK_BYTES])
            # Claimed before awaiting, so a concurrent send_audio does not send it again.
            self._transmitted = start + len(chunk)
            self._last_sent = time.monotonic()
            try:
                await socket.send(chunk)
            except ConnectionClosed:
                return  # the receiver sees the close and reconnects; the audio is still kept

    async def _send_text(self, message: str) -> bool:
        self._last_sent = time.monotonic()
        try:
            await self._socket.send(message)
        except ConnectionClosed:
            return False
        return True

    async def _keep_alive(self) -> None:
        interval = self._settings.keepalive_interval_s
        while True:
            wait = self._last_sent + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif self._ready:
                await self._send_text(_KEEPALIVE)
            else:
                self._last_sent = time.monotonic()  # reconnecting: the resend counts as traffic

    # ------------------------------------------------------------------ receiving

    async def _receive(self) -> None:
        silent_drops = 0  # consecutive connections that closed before sending anything
        try:
            while True:
                heard = await self._read_until_closed(self._socket)
                if self._closing:
                    return
                silent_drops = 0 if heard else silent_drops + 1
                if silent_drops > self._settings.reconnect_attempts:
                    # A server that accepts and drops at once would otherwise be redialled
                    # forever.
                    raise ReconnectGaveUpError(
                        ENGINE,
                        f"gave up reconnecting: {silent_drops} connections in a row closed "
                        "before any result",
                        attempts=self._budget.total,
                    )
                await self._reconnect()
        except EngineError as exc:
            self._ready = False
            self._events.put_nowait(exc)
        finally:
            self._events.put_nowait(None)

    async def _read_until_closed(self, socket: ClientConnection) -> bool:
        """Handle the socket's messages until it closes; whether any arrived."""
        heard = False
        try:
            async for message in socket:
                heard = True
                if isinstance(message, str):
                    self._on_message(message)
        except ConnectionClosed:
            pass
        return heard

    def _on_message(self, text: str) -> None:
        reply = parse_listen_message(text, self._languages)
        for event in reply.events:
            self._events.put_nowait(event)
        if reply.final_end_s is not None:
            self._budget.recovered()  # recognition works again: back off from the start
            end = self._connection_start + round(reply.final_end_s * BYTES_PER_SECOND)
            acknowledged = min(end - self._unacknowledged_start, len(self._unacknowledged))
            if acknowledged > 0:
                del self._unacknowledged[:acknowledged]
                self._unacknowledged_start += acknowledged

    async def _reconnect(self) -> None:
        """Open a new connection and resend the unacknowledged audio first; raises
        ``ReconnectGaveUpError`` when every attempt failed or the budget is spent."""
        self._ready = False
        metrics.ENGINE_ERRORS.labels("stt_reconnect", ENGINE).inc()
        log.warning(
            "stt.deepgram.reconnecting",
            close_code=self._socket.close_code,
            close_reason=self._socket.close_reason,
            resend_s=round(len(self._unacknowledged) / BYTES_PER_SECOND, 2),
        )
        error: EngineError | None = None
        tried = 0
        while tried < self._settings.reconnect_attempts:
            await self._budget.before_reconnect()  # raises once the per-minute cap is reached
            tried += 1
            try:
                socket = await connect_listen(self._url, self._settings)
            except EngineError as exc:
                error = exc
                if isinstance(exc, AuthenticationError | InvalidRequestError):
                    break  # the same request will be refused again
                continue
            self._socket = socket
            self._connection_start = self._transmitted = self._unacknowledged_start
            await self._transmit()
            if self._finalize_after_reconnect:
                self._finalize_after_reconnect = False
                await self._send_text(_FINALIZE)
            self._ready = True
            return
        raise ReconnectGaveUpError(
            ENGINE,
            f"gave up reconnecting: the live transcription socket closed unexpectedly and "
            f"{tried} reconnect attempts failed: {error}",
            attempts=self._budget.total,
        ) from error


async def connect_listen(url: str, settings: ListenSettings) -> ClientConnection:
    """Open a ``/v1/listen`` socket; raises the typed error for a refused or failed handshake."""
    try:
        return await connect(
            url,
            additional_headers={"Authorization": f"Token {settings.api_key}"},
            open_timeout=settings.connect_timeout_s,
            close_timeout=settings.close_timeout_s,
            # Deepgram's own KeepAlive keeps the stream open; compressing audio only costs CPU.
            ping_interval=None,
            compression=None,
        )
    except InvalidStatus as exc:
        raise handshake_error(exc) from exc
    except (OSError, TimeoutError, WebSocketException) as exc:
        where = urlsplit(url)._replace(query="").geturl()
        raise EngineUnavailableError(ENGINE, f"cannot connect to {where}: {exc!r}") from exc


def handshake_error(exc: InvalidStatus) -> EngineError:
    """The typed error for a refused WebSocket handshake, with Deepgram's ``dg-error`` text."""
    response = exc.response
    status = response.status_code
    detail = response.headers.get("dg-error") or response.body.decode(errors="replace")[:200]
    message = f"WebSocket handshake refused with HTTP {status}: {detail or response.reason_phrase}"
    return status_error(ENGINE, status, message, overrides=DEEPGRAM_STATUSES)
