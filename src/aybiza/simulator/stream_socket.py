"""The Media Streams WebSocket as Twilio holds it: signed upgrade, numbered messages.

Every message after ``connected`` carries the stream SID and a string sequence number counting
all messages sent. Sends go through one lock so the numbers follow the order on the wire even
when the frame sender, the mark echoer and the caller's actions send at the same moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from aybiza.simulator import wire
from aybiza.simulator.errors import ServerUnreachableError, StreamRejectedError

# A greeting may arrive as one large media message; leave room for minutes of audio.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class StreamSocket:
    """One open Media Streams connection, from Twilio's side."""

    def __init__(self, ws: ClientConnection, stream_sid: str) -> None:
        self._ws = ws
        self.stream_sid = stream_sid
        self.sequence_number = 0  # of the last numbered message sent
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        stream_sid: str,
        signature: str | None,
        open_timeout_s: float,
    ) -> StreamSocket:
        """Connect to ``url`` with ``X-Twilio-Signature`` (when given) and send ``connected``.

        Raises StreamRejectedError when the handshake fails, ServerUnreachableError when nothing
        listens there.
        """
        ws = await open_media_stream(url, signature=signature, open_timeout_s=open_timeout_s)
        return cls(ws, stream_sid)

    async def send(self, event: str, body: Mapping[str, Any]) -> None:
        """Send a numbered message; raises websockets' ConnectionClosed once the socket closed."""
        async with self._lock:
            self.sequence_number += 1
            await self._ws.send(wire.encode(event, self.sequence_number, self.stream_sid, body))

    async def send_raw(self, text: str) -> None:
        """Send ``text`` as one text frame, unnumbered and unchecked."""
        async with self._lock:
            await self._ws.send(text)

    async def messages(self) -> AsyncIterator[str | bytes]:
        """Messages from the application until the socket closes, however it closes."""
        with contextlib.suppress(ConnectionClosed):
            async for data in self._ws:
                yield data

    async def close(self) -> None:
        """Close the socket normally (code 1000) and wait for the closing handshake."""
        await self._ws.close()

    @property
    def local_port(self) -> int:
        """The TCP port of this end of the connection (tells a connection apart on the server's
        side, e.g. which worker process accepted it)."""
        port: int = self._ws.local_address[1]
        return port

    @property
    def close_code(self) -> int | None:
        """The close code the connection ended with (1006 if it dropped), None while open."""
        return self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason the connection ended with, None while open."""
        return self._ws.close_reason


async def open_media_stream(
    url: str, *, signature: str | None, open_timeout_s: float
) -> ClientConnection:
    """Open a Media Streams WebSocket as Twilio does (``X-Twilio-Signature`` when given, no
    compression, no pings) and send ``connected``.

    Raises StreamRejectedError when the handshake fails, ServerUnreachableError when nothing
    listens there.
    """
    headers = {"X-Twilio-Signature": signature} if signature else {}
    try:
        ws = await connect(
            url,
            additional_headers=headers,
            open_timeout=open_timeout_s,
            compression=None,  # Twilio does not negotiate permessage-deflate
            ping_interval=None,  # nor ping; a busy benchmark host must not time calls out
            max_size=MAX_MESSAGE_BYTES,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise StreamRejectedError(url, f"HTTP {status}", status_code=status) from exc
    except (InvalidHandshake, InvalidURI) as exc:
        raise StreamRejectedError(url, str(exc)) from exc
    except (OSError, TimeoutError) as exc:
        raise ServerUnreachableError(url, str(exc) or type(exc).__name__) from exc
    with contextlib.suppress(ConnectionClosed):
        await ws.send(wire.connected())
    return ws
