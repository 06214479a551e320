"""One call's Deepgram Aura synthesis: a streaming socket kept across turns, REST as backup.

The session keeps one ``/v1/speak`` socket (PROTOCOLS.md 4.2) for the call and flushes after
every sentence, so each sentence's first audio comes as soon as Deepgram has it. Deepgram allows
20 flushes a minute per socket: past that budget, and whenever the socket fails, a sentence is
synthesized over REST instead (PROTOCOLS.md 4.1). Audio is μ-law 8 kHz, untouched.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.protocol import State

from aybiza.analytics import metrics
from aybiza.providers.errors import EngineError, EngineUnavailableError
from aybiza.providers.tts.deepgram_rest import ENGINE, SpeakRestClient
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

# Deepgram caps one Speak message at about 2000 characters (PROTOCOLS.md 4.2).
MAX_SPEAK_CHARS = 2000
_FLUSH = {"type": "Flush"}
_CLEAR = {"type": "Clear"}
_CLOSE = {"type": "Close"}

_Received = bytes | dict[str, Any] | None  # None: the socket closed


@dataclass(frozen=True, slots=True)
class SpeakSettings:
    """What every session of one ``DeepgramTts`` shares (see its docstring)."""

    api_key: str
    connect_timeout_s: float
    response_timeout_s: float
    close_timeout_s: float  # for a Cleared after Clear, and for the server's close after Close
    flush_limit: int
    flush_window_s: float


class _SocketFailed(Exception):
    """The socket cannot finish this sentence; the message says why."""


class _SpeakSocket:
    """One open ``/v1/speak`` socket. A reader task queues everything the server sends, so a
    sentence abandoned mid-way never leaves a half-read socket behind."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._inbox: asyncio.Queue[_Received] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(), name="deepgram-tts-read")

    @classmethod
    async def open(cls, url: str, settings: SpeakSettings) -> _SpeakSocket:
        try:
            socket = await connect(
                url,
                additional_headers={"Authorization": f"Token {settings.api_key}"},
                open_timeout=settings.connect_timeout_s,
                close_timeout=settings.close_timeout_s,
                ping_interval=None,
                compression=None,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise _SocketFailed(f"cannot connect: {exc}") from exc
        return cls(socket)

    @property
    def usable(self) -> bool:
        return not self._reader.done() and self._socket.state is State.OPEN

    def describe_close(self) -> str:
        return f"close code {self._socket.close_code}, reason {self._socket.close_reason!r}"

    async def send(self, message: dict[str, str]) -> None:
        """Raises ``ConnectionClosed``."""
        await self._socket.send(json.dumps(message))

    async def receive(self, timeout_s: float) -> _Received:
        """The next thing the server sent; raises ``TimeoutError``."""
        item = await within(self._inbox.get(), timeout_s)
        if item is None:
            self._inbox.put_nowait(None)  # closed stays closed for every later receive
        return item

    async def aclose(self, *, say_close: bool, timeout_s: float) -> None:
        if say_close and self.usable:
            try:
                await self.send(_CLOSE)
                # Deepgram closes the socket itself after Close.
                await asyncio.wait({self._reader}, timeout=timeout_s)
            except ConnectionClosed:
                pass
        self._reader.cancel()
        await self._socket.close()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for message in self._socket:
                if isinstance(message, bytes):
                    self._inbox.put_nowait(message)
                    continue
                try:
                    parsed = json.loads(message)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    self._inbox.put_nowait(parsed)
                else:
                    log.warning("tts.deepgram.unparsable_message", message=message[:200])
        except ConnectionClosed:
            pass
        finally:
            self._inbox.put_nowait(None)


class DeepgramTtsSession:
    """One call's synthesis in one voice; implements ``TtsSession``. Made by ``DeepgramTts``.

    At most one sentence reads the socket at a time. A sentence whose consumer stopped early
    (cancelled, barge-in) may still have audio coming: a Clear goes out and everything up to its
    Cleared is discarded before the next sentence's Speak.
    """

    def __init__(
        self, url: str, model: str, rest: SpeakRestClient, settings: SpeakSettings
    ) -> None:
        self._url = url
        self._model = model
        self._rest = rest
        self._settings = settings
        self._socket: _SpeakSocket | None = None
        self._clear_first = False  # the socket may hold a stopped sentence's audio
        self._cleared_owed = 0  # Clears sent whose Cleared has not arrived
        self._active: object | None = None  # token of the sentence reading the socket
        self._flushes: deque[float] = deque()
        self._closed = False

    async def stream(self, text: str) -> AsyncGenerator[bytes, None]:
        """Synthesize one sentence, yielding μ-law 8 kHz chunks as they arrive.

        Over the socket when it works and the flush budget allows, else over REST (a socket
        failure mid-sentence continues over REST from the audio already yielded). Raises
        ``EngineUnavailableError`` when REST fails too.
        """
        if self._closed:
            raise EngineUnavailableError(ENGINE, "the synthesis session is closed")
        if not text.strip():
            return
        if self._active is not None:
            self._clear_first = True  # the previous sentence was abandoned without closing
        token = self._active = object()
        spoke = done = False
        yielded = 0
        try:
            if self._flush_budget_left():
                socket = await self._ready_socket()
                failure = "the socket could not be opened"
                if socket is not None:
                    spoke = True
                    try:
                        async with aclosing(self._speak(socket, text, token)) as chunks:
                            async for chunk in chunks:
                                yielded += len(chunk)
                                yield chunk
                        done = True
                        return
                    except _SocketFailed as exc:
                        failure = str(exc)
                        await self._discard_socket()
                metrics.ENGINE_ERRORS.labels("tts_fallback_rest", ENGINE).inc()
                log.warning("tts.deepgram.fallback_rest", reason=failure, audio_sent=yielded)
            else:
                log.info("tts.deepgram.flush_budget_used", limit=self._settings.flush_limit)
            async with aclosing(self._rest_stream(text, skip=yielded)) as chunks:
                async for chunk in chunks:
                    yield chunk
            done = True
        finally:
            if self._active is token:
                self._active = None
                if spoke and not done:
                    self._clear_first = True

    async def clear(self) -> None:
        """Barge-in: Deepgram drops the queued text and audio; what it already sent is discarded
        (up to its Cleared) before the next sentence. Sent whenever the socket is open: the
        engine may still hold text of the interrupted answer even when no sentence is being
        read here."""
        if self._active is not None:
            self._active = None  # the sentence being read stops at its next chunk
            self._clear_first = True
        socket = self._socket
        if socket is None or not socket.usable:
            return
        self._clear_first = False
        try:
            await socket.send(_CLEAR)
            self._cleared_owed += 1
        except ConnectionClosed:
            pass  # the next sentence finds the socket closed and opens a new one

    async def aclose(self) -> None:
        """Close the socket (Close, then the WebSocket close). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._active = None
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.aclose(say_close=True, timeout_s=self._settings.close_timeout_s)

    # ------------------------------------------------------------------ socket

    def _flush_budget_left(self) -> bool:
        horizon = time.monotonic() - self._settings.flush_window_s
        while self._flushes and self._flushes[0] <= horizon:
            self._flushes.popleft()
        return len(self._flushes) < self._settings.flush_limit

    async def _ready_socket(self) -> _SpeakSocket | None:
        """The call's socket, opened if needed, with no earlier sentence's audio left in it;
        None when no socket can be had."""
        for _ in range(2):  # a socket that fails to settle is replaced once
            socket = self._socket
            if socket is not None and not socket.usable:
                await self._discard_socket()
                socket = None
            if socket is None:
                try:
                    socket = self._socket = await _SpeakSocket.open(self._url, self._settings)
                except _SocketFailed as exc:
                    log.warning("tts.deepgram.connect_failed", error=str(exc))
                    return None
            if await self._settle(socket):
                return socket
            await self._discard_socket()
        return None

    async def _settle(self, socket: _SpeakSocket) -> bool:
        try:
            if self._clear_first:
                self._clear_first = False
                await socket.send(_CLEAR)
                self._cleared_owed += 1
            while self._cleared_owed:
                item = await socket.receive(self._settings.close_timeout_s)
                if item is None:
                    return False
                if isinstance(item, dict) and item.get("type") == "Cleared":
                    self._cleared_owed -= 1
        except (ConnectionClosed, TimeoutError):
            return False
        return True

    async def _discard_socket(self) -> None:
        socket, self._socket = self._socket, None
        self._clear_first = False
        self._cleared_owed = 0
        if socket is not None:
            await socket.aclose(say_close=False, timeout_s=0)

    async def _speak(
        self, socket: _SpeakSocket, text: str, token: object
    ) -> AsyncGenerator[bytes, None]:
        try:
            for part in _speak_parts(text):
                await socket.send({"type": "Speak", "text": part})
            await socket.send(_FLUSH)
        except ConnectionClosed as exc:
            raise _SocketFailed(f"closed before the sentence went out ({exc})") from exc
        self._flushes.append(time.monotonic())
        timeout_s = self._settings.response_timeout_s
        while self._active is token:
            try:
                item = await socket.receive(timeout_s)
            except TimeoutError as exc:
                raise _SocketFailed(f"no audio or Flushed for {timeout_s} s") from exc
            if item is None:
                raise _SocketFailed(f"closed mid-sentence ({socket.describe_close()})")
            if isinstance(item, bytes):
                if item and self._active is token:
                    yield item
                continue
            kind = item.get("type")
            if kind == "Flushed":
                return
            if kind == "Cleared":
                self._cleared_owed = max(0, self._cleared_owed - 1)
            elif kind == "Warning":
                # Over the flush limit Deepgram warns instead of answering the Flush.
                raise _SocketFailed(f"Deepgram warned: {item.get('description')!r}")

    async def _rest_stream(self, text: str, *, skip: int) -> AsyncGenerator[bytes, None]:
        """``text`` over REST without its first ``skip`` bytes: after a socket failure
        mid-sentence the caller already heard that much, so it is not played twice."""
        try:
            async with aclosing(self._rest.stream(text, self._model)) as chunks:
                async for chunk in chunks:
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    yield chunk[skip:]
                    skip = 0
        except EngineError as exc:
            raise EngineUnavailableError(
                ENGINE, f"REST synthesis failed: {exc}", status=exc.status
            ) from exc


def _speak_parts(text: str) -> list[str]:
    """``text`` in Speak-sized parts, split at spaces when it is over the per-message cap."""
    parts: list[str] = []
    while len(text) > MAX_SPEAK_CHARS:
        cut = text.rfind(" ", 0, MAX_SPEAK_CHARS)
        cut = cut if cut > 0 else MAX_SPEAK_CHARS
        parts.append(text[:cut])
        text = text[cut:]
    parts.append(text)
    return parts
