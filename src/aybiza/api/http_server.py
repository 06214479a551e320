"""How uvicorn serves the platform: its options, and a guard uvicorn lacks against slow or
endless request headers.

uvicorn times out idle keep-alive connections but not a request whose headers trickle in (or
never come): a client can hold a connection, and a slot of every limit above it, for ever by
sending a byte every few seconds. ``HeaderTimeoutHttpTools`` is uvicorn's httptools protocol
with a timer from the connection's first byte (or the next request's) to the end of its
headers: at ``header_timeout_s`` the client gets a 408 and the connection is closed. Headers
larger than ``MAX_HEADER_BYTES`` get a 431 the same way (httptools sets no limit of its own).

WebSocket messages are capped by uvicorn itself (``ws_max_size``): a larger message closes the
connection with 1009 (message too big).
"""

from __future__ import annotations

import json
import os
from asyncio import TimerHandle, Transport
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from aybiza.api.headers import security_headers
from aybiza.config import Settings

MAX_HEADER_BYTES = 64 * 1024
DEFAULT_HEADER_TIMEOUT_S = 10.0
# ``aybiza serve --workers N``: uvicorn's supervisor pings each worker and kills and replaces one
# that does not answer within this time. Its default (5 s) is shorter than a worker's start on a
# busy machine (a spawned process imports the platform and warms its engines before its ping
# thread runs): the workers were killed and restarted for ever, none serving. A worker starved
# of CPU under load must not be killed with its live calls either.
WORKER_HEALTHCHECK_S = 60


def _header_timeout_from_env() -> float:
    # Read here, not through Settings: ``aybiza serve --workers N`` starts each worker's
    # protocol by import path, and this is the one setting it needs.
    return float(os.environ.get("AYBIZA_HEADER_TIMEOUT_S", "").strip() or DEFAULT_HEADER_TIMEOUT_S)


class HeaderTimeoutHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol that times out requests whose headers do not arrive in
    time (``AYBIZA_HEADER_TIMEOUT_S``) and refuses oversized headers."""

    header_timeout_s: ClassVar[float] = _header_timeout_from_env()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = False

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Still inside a request's headers after this chunk: it counts against their cap.
        if self._in_headers:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(431, "headers_too_large", "the request headers are too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        if self._header_timer is None:
            self._start_header_clock()

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        super().on_headers_complete()

    def _start_header_clock(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._refuse(
            408,
            "header_timeout",
            f"the request headers did not arrive within {self.header_timeout_s:g} s",
        )

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer without the application (no request exists yet) and close."""
        self._stop_header_clock()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request stalled while an earlier one is still being answered: a
            # response of our own would cut into that one's, so only close.
            self.transport.close()
            return
        body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
        lines = [STATUS_LINE[status]]
        headers = [
            *security_headers("", https=False),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        lines += [name + b": " + value + b"\r\n" for name, value in headers]
        self.transport.write(b"".join([*lines, b"\r\n", body]))
        self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeoutHttpTools]:
    """The protocol with its own header timeout, for a server started in this process."""
    return type("HeaderTimeoutHttpTools", (HeaderTimeoutHttpTools,), {"header_timeout_s": seconds})


def uvicorn_options(settings: Settings, *, in_process: bool) -> dict[str, Any]:
    """uvicorn's options for the platform. ``in_process``: the server runs in this process
    (its protocol then takes the timeout from ``settings``); otherwise workers import the
    protocol and read ``AYBIZA_HEADER_TIMEOUT_S`` themselves."""
    http: type[HeaderTimeoutHttpTools] | str = (
        with_header_timeout(settings.header_timeout_s)
        if in_process
        else f"{__name__}:HeaderTimeoutHttpTools"
    )
    return {
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_S,
        "http": http,
        # websockets' sans-I/O protocol: the cheapest per inbound frame that uvicorn offers here
        # (bench/ws_inbound.py; its legacy `websockets` is deprecated and costs more, wsproto is
        # no cheaper and another dependency), offering Media Streams its messages below ASGI
        # (``direct_websocket.py``).
        "ws": "aybiza.direct_websocket:DirectWebSocketProtocol",
        "ws_max_size": settings.max_ws_message_bytes,
        # Browsers offer permessage-deflate; Twilio does not. Audio does not compress, and
        # inflating and deflating every 20 ms frame would cost more than the frame's parse.
        "ws_per_message_deflate": False,
    }
