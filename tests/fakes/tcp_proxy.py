"""A loopback TCP proxy that a test (or a benchmark) cuts and restores, to give the platform a
database outage without touching the database server, which other people share.

``cut()`` drops every open connection and, until ``restore()``, answers each new one the way the
chosen ``Outage`` says: ``reset`` accepts and resets it at once (a server that crashed and a
port nobody listens on, as a client sees it), ``refuse`` stops listening (connection refused),
``blackhole`` accepts and never answers (a network partition: only the client's own timeouts end
the wait). The proxy runs on its own thread and event loop, so a synchronous test that blocks
while a server starts, and an asynchronous one, both drive it the same way::

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = proxy.route("postgresql+asyncpg://postgres@127.0.0.1:5432/db")
        proxy.cut()
        ...
        proxy.restore()

Only loopback: it listens on 127.0.0.1 and refuses an upstream that is not a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import socket
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy.engine import make_url

T = TypeVar("T")
_CHUNK = 64 * 1024


class Outage(enum.StrEnum):
    """How the proxy behaves while cut."""

    RESET = "reset"
    REFUSE = "refuse"
    BLACKHOLE = "blackhole"


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_host``:``upstream_port`` until cut."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        if not ipaddress.ip_address(socket.gethostbyname(upstream_host)).is_loopback:
            raise ValueError(f"upstream_host must be a loopback address, got {upstream_host!r}")
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy")
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._held: set[asyncio.StreamWriter] = set()
        self.outage: Outage | None = None
        self.port = 0

    # ------------------------------------------------------------------ control (any thread)

    def start(self) -> None:
        """Listen on a free loopback port (``port``)."""
        self._thread.start()
        self._call(self._listen())

    def cut(self, outage: Outage = Outage.RESET) -> None:
        """Drop every open connection and turn new ones away until ``restore()``."""
        self._call(self._cut(outage))

    def restore(self) -> None:
        """Forward new connections again."""
        self._call(self._restore())

    def route(self, database_url: str) -> str:
        """``database_url`` (SQLAlchemy form) with its host and port replaced by the proxy's."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def stop(self) -> None:
        """Close everything and end the proxy's thread."""
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    # ------------------------------------------------------------------ on the proxy's loop

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _cut(self, outage: Outage) -> None:
        self.outage = outage
        if outage is Outage.REFUSE and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        links = list(self._links)
        for link in links:
            link.cancel()
        await asyncio.gather(*links, return_exceptions=True)

    async def _restore(self) -> None:
        self.outage = None
        for writer in list(self._held):
            writer.transport.abort()
        self._held.clear()
        if self._server is None:
            await self._listen()

    async def _close(self) -> None:
        await self._cut(Outage.REFUSE)
        for writer in list(self._held):
            writer.transport.abort()
        self._held.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.outage is not None:
            if self.outage is Outage.BLACKHOLE:
                self._held.add(writer)
            else:
                writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:
            # Cut: the client sees its connection reset, as when the server goes away.
            writer.transport.abort()
        finally:
            self._links.discard(task)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(_pipe(reader, up_writer))
                group.create_task(_pipe(up_reader, writer))
        finally:
            up_writer.transport.abort()
            writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    # One side closed: close the other so the client learns the connection is over.
    writer.transport.abort()
