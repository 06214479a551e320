"""The edge's event endpoint as the auth-validator serves it (``POST /_edge/events``, bearer
edge secret, JSON ``{"events": [...]}``, 202), on loopback: it records what it accepted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class EdgeReceiver:
    url: str
    secret: str
    events: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    def wait_for(self, expected: dict[str, Any], timeout_s: float = 10) -> dict[str, Any]:
        """The first event holding every item of ``expected`` (waiting for it to arrive)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in list(self.events):
                if expected.items() <= event.items():
                    return event
            time.sleep(0.02)
        raise AssertionError(f"no event like {expected} arrived: {self.events}")


@contextmanager
def running_edge_receiver(secret: str) -> Iterator[EdgeReceiver]:
    receiver = EdgeReceiver(url="", secret=secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.headers.get("authorization") != f"Bearer {secret}":
                receiver.refused += 1
                self.send_response(401)
                self.end_headers()
                return
            receiver.events.extend(json.loads(body)["events"])
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads what arrived, not the access log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/_edge/events"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
