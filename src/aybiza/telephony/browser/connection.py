"""``BrowserMediaConnection``: the call loop's ``MediaConnection`` over the browser's socket.

Everything for the browser (audio, marks, clear, transcript lines, the end) goes through one
outbox drained by one task, so messages leave in the order the call made them, whichever task
made them. ``clear`` also drops what is still in the outbox: it was never sent, so never heard.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from aybiza.telephony.browser.wire import (
    clear_message,
    end_message,
    mark_message,
    transcript_message,
)

Outgoing = str | bytes


class BrowserMediaConnection:
    """Sends to one browser; ``start`` the pump once the socket is accepted."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._outbox: asyncio.Queue[Outgoing | None] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        self._pump = asyncio.create_task(self._drain(), name="browser-outbox")

    def send_text(self, text: str) -> None:
        if not self.closed:
            self._outbox.put_nowait(text)

    async def send_media(self, mulaw: bytes) -> None:
        if not self.closed:
            self._outbox.put_nowait(mulaw)

    async def send_mark(self, name: str) -> None:
        self.send_text(mark_message(name))

    async def send_clear(self) -> None:
        while not self._outbox.empty():
            self._outbox.get_nowait()
        self.send_text(clear_message())

    async def send_digits(self, digits: str) -> bool:
        """The browser has no keypad signalling of its own: the caller plays digits as tones."""
        return False

    def transcript(self, speaker: str, text: str) -> None:
        """A transcript line for the page (called by the call loop's recorder)."""
        self.send_text(transcript_message(speaker, text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send what is queued and ``end``, then close the socket."""
        if self.closed:
            return
        self._outbox.put_nowait(end_message(reason))
        self.closed = True
        self._outbox.put_nowait(None)
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await self._websocket.close(code, reason[:120])

    async def _drain(self) -> None:
        websocket = self._websocket
        try:
            while (item := await self._outbox.get()) is not None:
                if isinstance(item, bytes):
                    await websocket.send_bytes(item)
                else:
                    await websocket.send_text(item)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
