"""A webhook receiver as a tenant would write one, independent of the product's code: it checks
``AYBIZA-Signature`` with a few lines of ``hmac`` and refuses timestamps older than 5 minutes."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_S = 300


def verify(header: str, body: bytes, secrets: list[str], now: float) -> str | None:
    """None when the signature is good, else why not (the recipe in docs/api.md)."""
    items = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in items if key == "t"]
    signatures = [value for key, value in items if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        return "malformed header"
    if abs(now - int(stamps[0])) > TOLERANCE_S:
        return "timestamp outside the 5 minute tolerance"
    signed = stamps[0].encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return None
    return "no signature matches"


@dataclass
class Received:
    """One request the receiver got, and what it answered."""

    event: str
    delivery: str
    signature: str
    body: dict[str, Any]
    status: int
    at: float


@dataclass
class Receiver:
    """Accepts deliveries signed with one of ``secrets``; can be told to fail or to run its
    clock ahead (to see stale timestamps refused)."""

    secrets: list[str] = field(default_factory=list)
    fail_next: int = 0
    clock_offset_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def accepted(self, event: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status == 200 and event in (None, r.event)]

    def wait_for(self, count: int, event: str | None = None, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.accepted(event)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {event or 'event'}(s); got {self.received}")
            time.sleep(0.02)
        return self.accepted(event)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                status = 500
            else:
                problem = verify(
                    headers.get("aybiza-signature", ""),
                    body,
                    self.secrets,
                    time.time() + self.clock_offset_s,
                )
                status = 200 if problem is None else 400
            self.received.append(
                Received(
                    event=headers.get("aybiza-event", ""),
                    delivery=headers.get("aybiza-delivery", ""),
                    signature=headers.get("aybiza-signature", ""),
                    body=json.loads(body),
                    status=status,
                    at=time.monotonic(),
                )
            )
            return status

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status = receiver.handle(headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
