"""What the fake model servers share: scripted replies, request recording, the server and its CLI.

Each fake (``FakeBedrock``, ``FakeAnthropic``, ``FakeOpenAI``) is an aiohttp server on
127.0.0.1 that answers with its vendor's wire format. Tests script what the next request gets
(a ``Reply`` or an ``HttpError``, per model or for any model) and read what was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Self

from aiohttp import web

DEFAULT_REPLY_TEXT = "Sure, I can help with that."


@dataclass(frozen=True)
class ToolUse:
    """A tool call in a scripted reply; ``id`` empty means the fake invents one."""

    name: str
    input: dict[str, Any]
    id: str = ""


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text streamed a word per delta, then optionally tool calls
    (``tool``, then ``more_tools``).

    ``stop_reason`` uses Bedrock's names (each fake translates); empty means ``tool_use`` with a
    tool and ``end_turn`` without. With ``fail_after`` set, the stream sends that many deltas
    and then the vendor's in-stream error ``fail_with`` instead of the rest.
    ``reported_latency_ms`` fixes Bedrock's ``metrics.latencyMs`` (default: the time taken).
    A request that offers no tool (or forbids calling one) gets the text alone: a model cannot
    call a tool it was not given (``without_tools``).
    """

    text: str = DEFAULT_REPLY_TEXT
    tool: ToolUse | None = None
    more_tools: tuple[ToolUse, ...] = ()
    stop_reason: str = ""
    first_token_ms: float = 0.0
    inter_token_ms: float = 0.0
    input_tokens: int = 12
    fail_after: int | None = None
    fail_with: str = ""
    reported_latency_ms: int | None = None

    def text_deltas(self) -> list[str]:
        """The text as word deltas that concatenate back to it."""
        words = self.text.split(" ")
        return [word if i == 0 else " " + word for i, word in enumerate(words) if self.text]

    @property
    def tools(self) -> tuple[ToolUse, ...]:
        """Every tool call of the reply, in order."""
        return ((self.tool,) if self.tool is not None else ()) + self.more_tools

    def tool_fragments(self, tool: ToolUse | None = None) -> list[str]:
        """A tool input's JSON (the first tool's by default) in three pieces cut mid-token, as
        models stream it."""
        tool = tool if tool is not None else self.tool
        if tool is None:
            return []
        raw = json.dumps(tool.input)
        cut = max(1, len(raw) // 3)
        return [piece for piece in (raw[:cut], raw[cut : 2 * cut], raw[2 * cut :]) if piece]

    def without_tools(self) -> Reply:
        """What a model offered no tool answers instead: the text (some words if the script
        had none), ending the turn."""
        return replace(
            self,
            text=self.text or DEFAULT_REPLY_TEXT,
            tool=None,
            more_tools=(),
            stop_reason="" if self.stop_reason == "tool_use" else self.stop_reason,
        )

    @property
    def final_stop_reason(self) -> str:
        """The stop reason the reply ends with, in Bedrock's names."""
        return self.stop_reason or ("tool_use" if self.tools else "end_turn")

    @property
    def output_tokens(self) -> int:
        """Tokens the reply reports: one per delta."""
        fragments = sum(len(self.tool_fragments(tool)) for tool in self.tools)
        return len(self.text_deltas()) + fragments


@dataclass(frozen=True)
class HttpError:
    """A scripted refusal before the stream starts: status, vendor error type and message."""

    status: int
    error_type: str
    message: str = "scripted failure"


Scripted = Reply | HttpError


@dataclass
class RecordedRequest:
    """A request the fake received: raw (still percent-encoded) path, headers, JSON body, the
    raw body and the client's address (one per connection)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    model: str = ""
    raw: bytes = b""
    peer: str = ""


@dataclass
class DeltaPacer:
    """When each delta of a reply is due, and when its scripted in-stream fault is."""

    reply: Reply
    sent: int = 0

    def next_delay_ms(self) -> float:
        """Milliseconds to wait before the next delta (the first token waits longest)."""
        delay = self.reply.first_token_ms if self.sent == 0 else self.reply.inter_token_ms
        self.sent += 1
        return delay

    @property
    def fault_due(self) -> bool:
        """True once the deltas before the scripted fault were sent."""
        return self.reply.fail_after is not None and self.sent >= self.reply.fail_after


class FakeLlmServer:
    """Base of the fakes: an aiohttp server whose subclasses add their vendor's routes."""

    def __init__(self, *, port: int = 0, default: Reply | None = None) -> None:
        self.port = port
        self.default = default or Reply()
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self._queues: dict[str | None, deque[Scripted]] = {}
        self._runner: web.AppRunner | None = None
        self._disconnected: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        return f"http://127.0.0.1:{self.port}"

    def routes(self) -> list[web.RouteDef]:
        """The vendor's endpoints."""
        raise NotImplementedError

    def script(self, *replies: Scripted, model: str | None = None) -> None:
        """Queue replies for the next requests to ``model`` (any model when None)."""
        self._queues.setdefault(model, deque()).extend(replies)

    def next_reply(self, model: str) -> Scripted:
        """The reply for a request to ``model``: its queue, then the shared one, then default."""
        for key in (model, None):
            queue = self._queues.get(key)
            if queue:
                return queue.popleft()
        return self.default

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port unless one was given) and return the base URL."""
        self._disconnected = asyncio.Event()
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Bound here rather than by aiohttp so the free port the kernel picked is known.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self.url

    async def stop(self) -> None:
        """Stop listening and end open streams."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_disconnect(self, timeout_s: float = 5.0) -> None:
        """Return once a client hung up in the middle of a stream."""
        assert self._disconnected is not None, "start the fake first"
        await asyncio.wait_for(self._disconnected.wait(), timeout_s)

    async def record(self, request: web.Request, model: str = "") -> RecordedRequest:
        """Parse and keep the request (a body that is not JSON is kept as text)."""
        raw = await request.read()
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text)
        except json.JSONDecodeError:
            body = text
        recorded = RecordedRequest(
            method=request.method,
            path=request.raw_path,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            model=model,
            raw=raw,
            peer=str(request.transport.get_extra_info("peername") if request.transport else ""),
        )
        self.requests.append(recorded)
        return recorded

    async def stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        chunks: Iterable[tuple[float, bytes]],
    ) -> web.StreamResponse:
        """Send ``(delay_ms, bytes)`` chunks with chunked transfer, noting a client hang-up."""
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for delay_ms, data in chunks:
                if delay_ms > 0:
                    await asyncio.sleep(delay_ms / 1000)
                await response.write(data)
            await response.write_eof()
        except ConnectionError:
            self.disconnects += 1
            if self._disconnected is not None:
                self._disconnected.set()
        return response


@dataclass(frozen=True)
class CliOptions:
    """What a fake run as its own process was asked for."""

    port: int
    reply: Reply
    api_key: str | None


def parse_cli(description: str, argv: Sequence[str] | None, *, api_key: bool) -> CliOptions:
    """The options of every fake's ``main``: port, latencies, reply text (and API key)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--inter-token-ms", type=float, default=0.0)
    parser.add_argument("--reply", default=DEFAULT_REPLY_TEXT, help="text of every answer")
    if api_key:
        parser.add_argument("--api-key", default=None, help="the only key accepted")
    args = parser.parse_args(argv)
    reply = Reply(
        text=args.reply,
        first_token_ms=args.first_token_ms,
        inter_token_ms=args.inter_token_ms,
    )
    return CliOptions(port=args.port, reply=reply, api_key=getattr(args, "api_key", None))


async def serve_forever(fake: FakeLlmServer) -> None:
    """Run ``fake`` until the process is stopped, printing its URL for the parent process."""
    async with fake:
        print(fake.url, flush=True)
        await asyncio.Event().wait()
