"""A WebSocket route can take its messages straight from the protocol, below ASGI.

A Media Streams call moves about a hundred WebSocket messages a second each way (caller audio
every 20 ms, mark echoes, the agent's audio and marks). Through ASGI each received message is a
dict put on an ``asyncio.Queue``, a ``pause_reading`` and a ``resume_reading`` of the socket,
uvicorn's ``receive`` coroutine and Starlette's around it; each sent one is a dict through
Starlette's and uvicorn's ``send`` coroutines. ``DirectWebSocketProtocol`` is uvicorn's
websockets sans-I/O protocol that offers every WebSocket scope an extension
(``scope["extensions"][EXTENSION]``, a ``DirectSocket``): a handler that has accepted the socket
may ``attach`` it, and from then on

- received messages go, in order, into the ``DirectSocket``'s own buffer, read with
  ``next_message`` (no await while one is waiting) and ``wait``; reading pauses only when
  ``HIGH_WATER`` messages wait unread and resumes when the handler is back under ``LOW_WATER``
  (back-pressure per backlog, not per message);
- the end of the connection (the peer's close, a lost connection, a protocol error, the server
  shutting down, the handler's own close) is ``closed_code``, seen after every message received
  before it;
- or ``serve(handle)`` gives each message to ``handle`` from the protocol's own callback as it
  arrives (``start_eagerly``): no task wakes for a message whose handling waits for nothing;
  one that waits finishes in a task and holds the later ones behind it, in order;
- ``send_text`` writes a text frame without an ASGI message (waiting first only while the
  transport asks to stop writing, as uvicorn's ``send`` does).

A route that never attaches (``/web/call``, the dashboard's sockets) is served exactly as by
uvicorn's protocol. The handshake, the close handshake, pings and the frames on the wire are the
websockets library's, unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from uvicorn._types import ASGIReceiveEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

from aybiza.eager_start import start_eagerly

EXTENSION = "aybiza.direct_websocket"
# Unread messages at which the socket stops reading, and at which it reads again. A call sends
# 50 audio frames a second: 64 is over a second of audio, far beyond a handler keeping up.
HIGH_WATER = 64
LOW_WATER = 16


class DirectSocket:
    """One accepted WebSocket's messages and writes, for a handler that ``attach``-ed it."""

    def __init__(self, protocol: DirectWebSocketProtocol) -> None:
        self._protocol = protocol
        self._messages: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.attached = False
        self.closed_code: int | None = None
        # ``serve``: the handler each message is given to, the context it runs in, the task
        # finishing one that had to wait (later messages wait behind it), and the end.
        self._handle: Callable[[str | bytes], Coroutine[Any, Any, bool]] | None = None
        self._context: contextvars.Context | None = None
        self._busy: asyncio.Task[bool] | None = None
        self._served: asyncio.Future[None] | None = None
        self._dispatching = False  # inside ``handle``'s eager start (it may close the socket)

    def attach(self) -> None:
        """Take the socket's messages from here on, after any uvicorn already queued for ASGI."""
        if self.attached:
            return
        self.attached = True
        queue = self._protocol.queue
        while not queue.empty():
            self._take_event(queue.get_nowait())
        protocol = self._protocol
        if protocol.read_paused and len(self._messages) < HIGH_WATER:
            protocol.read_paused = False
            protocol.transport.resume_reading()

    def next_message(self) -> str | bytes | None:
        """The oldest unread message, or None (then ``closed_code`` says whether more can come)."""
        messages = self._messages
        if not messages:
            return None
        message = messages.popleft()
        protocol = self._protocol
        if protocol.read_paused and len(messages) <= LOW_WATER and not protocol.disconnected:
            protocol.read_paused = False
            protocol.transport.resume_reading()
        return message

    async def wait(self) -> None:
        """Until a message is unread or the connection ended."""
        if self._messages or self.closed_code is not None:
            return
        self._waiter = waiter = self._protocol.loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    async def serve(self, handle: Callable[[str | bytes], Coroutine[Any, Any, bool]]) -> None:
        """Give every message, in order, to ``handle``, started from the protocol's callback
        as it arrives (``start_eagerly``: no task wakes for a message that waits for nothing;
        one that waits holds the later ones behind it), until the connection ends or
        ``handle`` returns False. Messages already unread go first. Raises what ``handle``
        raised."""
        self._handle = handle
        self._context = contextvars.copy_context()
        self._served = served = self._protocol.loop.create_future()
        self._drain()
        try:
            await served
        finally:
            self._handle = None
            busy, self._busy = self._busy, None
            if busy is not None:
                busy.cancel()

    def _dispatch(self, message: str | bytes) -> None:
        handle, context = self._handle, self._context
        assert handle is not None and context is not None
        self._dispatching = True
        try:
            task, going_on = start_eagerly(handle(message), context)
        except BaseException as exc:
            self._stop(exc)
            return
        finally:
            self._dispatching = False
        if task is None:
            if going_on is False or (self.closed_code is not None and not self._messages):
                self._stop(None)
            return
        self._busy = task
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[bool]) -> None:
        if task is not self._busy:
            return  # ``serve`` ended and cancelled it
        self._busy = None
        if task.cancelled():
            self._stop(asyncio.CancelledError())
        elif (exc := task.exception()) is not None:
            self._stop(exc)
        elif task.result() is False:
            self._stop(None)
        else:
            self._drain()

    def _drain(self) -> None:
        """Dispatch the unread messages while none is waiting; end when the connection has."""
        messages = self._messages
        while messages and self._busy is None and self._handle is not None:
            self._dispatch(self.next_message())  # type: ignore[arg-type]
        if self._busy is None and not messages and self.closed_code is not None:
            self._stop(None)

    def _stop(self, exc: BaseException | None) -> None:
        served = self._served
        self._handle = None
        if served is None or served.done():
            return
        if exc is None:
            served.set_result(None)
        else:
            served.set_exception(exc)

    async def send_text(self, text: str) -> None:
        """Write a text frame (once the transport drains, if it asked to stop writing, as
        uvicorn's ``send`` does). Raises ``ClientDisconnected`` (an ``OSError``) when the
        connection is gone or closing."""
        writable = self._protocol.writable
        if not writable.is_set():
            await writable.wait()
        self._write(text)

    def _write(self, text: str) -> None:
        protocol = self._protocol
        if protocol.disconnected or protocol.close_sent:
            raise ClientDisconnected()
        try:
            protocol.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))

    # From the protocol.

    def received(self, message: str | bytes) -> None:
        if self._handle is not None and self._busy is None and not self._messages:
            self._dispatch(message)
            return
        self._messages.append(message)
        protocol = self._protocol
        if len(self._messages) >= HIGH_WATER and not protocol.read_paused:
            protocol.read_paused = True
            protocol.transport.pause_reading()
        self._wake()

    def ended(self, code: int) -> None:
        if self.closed_code is None:
            self.closed_code = code
        self._wake()
        if (
            self._handle is not None
            and self._busy is None
            and not self._dispatching
            and not self._messages
        ):
            self._stop(None)

    def _take_event(self, event: ASGIReceiveEvent) -> None:
        if event["type"] == "websocket.receive":
            text = event.get("text")
            self._messages.append(text if text is not None else event.get("bytes") or b"")
        elif event["type"] == "websocket.disconnect":
            self.ended(event.get("code", 1005))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _EventQueue(asyncio.Queue[ASGIReceiveEvent]):
    """uvicorn's receive queue; once the socket is attached, the end of the connection (which
    uvicorn puts on this queue from several places) goes to the ``DirectSocket`` instead."""

    def __init__(self) -> None:
        super().__init__()
        self.direct: DirectSocket | None = None

    def put_nowait(self, item: ASGIReceiveEvent) -> None:
        direct = self.direct
        if direct is not None and direct.attached:
            if item["type"] == "websocket.disconnect":
                direct.ended(item.get("code", 1005))
            return
        super().put_nowait(item)


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets sans-I/O protocol, offering each socket a ``DirectSocket``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _EventQueue()
        self.direct = DirectSocket(self)
        self.queue.direct = self.direct

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = self.direct

    def send_receive_event_to_app(self) -> None:
        direct = self.direct
        if not direct.attached:
            super().send_receive_event_to_app()
            return
        frames = self.frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self.frames = []
        if self.close_sent:
            return  # as uvicorn's: past the handler's close, read on until the peer's reply
        if self.curr_msg_data_type == "text":
            try:
                direct.received(data.decode())
            except UnicodeDecodeError:
                self.logger.warning("Invalid UTF-8 sequence received from client.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
        else:
            direct.received(bytes(data))
