"""OpenAICompatibleLlm's own reading of the wire: server-sent events as servers really cut and
decorate them, error bodies of the servers it meets, connection reuse and timeouts.

``FakeOpenAI`` (``test_openai_llm.py``) covers the ordinary stream; here a tiny aiohttp server
sends exactly the bytes each test scripts. ``SseDecoder`` is tested on its own first.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from aybiza.providers.base import AnswerEnd, LlmEvent, LlmRequest, Message, TextDelta, ToolCall
from aybiza.providers.errors import (
    AuthenticationError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidRequestError,
    ModelStreamError,
    ThrottledError,
)
from aybiza.providers.llm import openai_compat
from aybiza.providers.llm.openai_compat import OpenAICompatibleLlm
from aybiza.providers.llm.sse import ServerSentEvent, SseDecoder

HELLO = LlmRequest(system="", model="llama3.1:8b", messages=(Message("user", "Hello?"),))

# ---------------------------------------------------------------- SseDecoder


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SseDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def every_split(stream: bytes) -> list[list[ServerSentEvent]]:
    """The events of ``stream`` fed whole, byte by byte, and cut in two at every position."""
    results = [decode(stream), decode(*(stream[i : i + 1] for i in range(len(stream))))]
    results += [decode(stream[:cut], stream[cut:]) for cut in range(1, len(stream))]
    return results


def test_data_lines_become_events_however_the_bytes_are_cut() -> None:
    stream = 'data: {"a": 1}\n\ndata: é€\n\ndata: [DONE]\n\n'.encode()
    expected = [ServerSentEvent('{"a": 1}'), ServerSentEvent("é€"), ServerSentEvent("[DONE]")]
    for events in every_split(stream):
        assert events == expected


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_lf_crlf_and_cr_all_end_lines_even_split_between_chunks(newline: bytes) -> None:
    stream = b"data: one" + newline + newline + b"data: two" + newline + newline
    for events in every_split(stream):
        assert events == [ServerSentEvent("one"), ServerSentEvent("two")]


def test_comments_ids_retries_and_unknown_fields_are_ignored() -> None:
    stream = b": keep-alive\n\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n\n:\n\n"
    assert decode(stream) == [ServerSentEvent("x")]


def test_an_event_name_applies_to_its_own_event_only() -> None:
    stream = b"event: ping\ndata: {}\n\ndata: chunk\n\nevent: ping\n\ndata: next\n\n"
    assert decode(stream) == [
        ServerSentEvent("{}", "ping"),
        ServerSentEvent("chunk"),
        ServerSentEvent("next"),
    ]


def test_data_lines_join_with_newlines_and_lose_one_leading_space() -> None:
    stream = b"data:first\ndata:  second\ndata\n\n"
    assert decode(stream) == [ServerSentEvent("first\n second\n")]


def test_a_leading_byte_order_mark_is_dropped() -> None:
    for events in every_split(b"\xef\xbb\xbfdata: x\n\n"):
        assert events == [ServerSentEvent("x")]


def test_an_event_without_its_blank_line_is_not_dispatched() -> None:
    assert decode(b"data: whole\n\ndata: cut off\n") == [ServerSentEvent("whole")]


# ---------------------------------------------------------------- a server sending scripted bytes


@dataclass
class Scripted:
    """What the next request gets: a status, headers and body parts (each written on its own).

    ``hold_open`` keeps the response open after the parts, as a misbehaving server might;
    ``end_delay_s`` delays the end of the body (the chunked terminator) after them;
    ``headers_delay_s`` delays the response headers; ``drop`` closes the connection after the
    parts instead of ending the body.
    """

    parts: list[bytes]
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/event-stream"})
    hold_open: bool = False
    end_delay_s: float = 0.0
    headers_delay_s: float = 0.0
    drop: bool = False


class RawServer:
    """An aiohttp server on 127.0.0.1 answering ``POST /v1/chat/completions`` with scripts."""

    def __init__(self) -> None:
        self.scripts: list[Scripted] = []
        self.bodies: list[Any] = []
        self.peers: list[Any] = []
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()
        self.url = ""

    async def start(self, listening: socket.socket | None = None) -> None:
        app = web.Application()
        app.add_routes([web.post("/v1/chat/completions", self._handle)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site: web.BaseSite
        if listening is None:
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
        else:
            site = web.SockSite(self._runner, listening)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        transport = request.transport
        self.peers.append(None if transport is None else transport.get_extra_info("peername"))
        script = self.scripts.pop(0)
        if script.headers_delay_s:
            await asyncio.sleep(script.headers_delay_s)
        response = web.StreamResponse(status=script.status, headers=script.headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in script.parts:
            await response.write(part)
        if script.drop and transport is not None:
            transport.close()
            return response
        if script.hold_open:
            await self._release.wait()
        if script.end_delay_s:
            await asyncio.sleep(script.end_delay_s)
        await response.write_eof()
        return response


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    await raw.start()
    yield raw
    await raw.stop()


@pytest.fixture
async def engine(server: RawServer) -> AsyncIterator[OpenAICompatibleLlm]:
    llm = OpenAICompatibleLlm(base_url=server.url)
    yield llm
    await llm.aclose()


async def collect(engine: OpenAICompatibleLlm) -> list[LlmEvent]:
    return [event async for event in engine.open_session("call-1").respond(HELLO)]


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return {"object": "chat.completion.chunk", "choices": [choice], **extra}


def sse(*payloads: dict[str, Any], newline: str = "\n", done: bool = True) -> bytes:
    events = [f"data: {json.dumps(payload)}{newline}{newline}" for payload in payloads]
    if done:
        events.append(f"data: [DONE]{newline}{newline}")
    return "".join(events).encode()


HELLO_CHUNKS = (
    chunk({"role": "assistant", "content": "Hi"}),
    chunk({"content": " there."}),
    chunk({}, "stop"),
    {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 9}},
)


def texts(events: list[LlmEvent]) -> list[str]:
    return [event.text for event in events if isinstance(event, TextDelta)]


# ---------------------------------------------------------------- the stream


async def test_comments_pings_crlf_and_cuts_mid_line_do_not_change_the_answer(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    stream = b": connected\r\n\r\nevent: ping\r\ndata: ping\r\n\r\nretry: 3000\r\n"
    stream += sse(*HELLO_CHUNKS, newline="\r\n")
    server.scripts.append(Scripted([stream[i : i + 7] for i in range(0, len(stream), 7)]))
    events = await collect(engine)
    assert texts(events) == ["Hi", " there."]
    end = events[-1]
    assert isinstance(end, AnswerEnd)
    assert (end.stop_reason, end.usage.input_tokens, end.usage.output_tokens) == ("end_turn", 9, 0)


async def test_a_gzipped_stream_is_read(server: RawServer, engine: OpenAICompatibleLlm) -> None:
    headers = {"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}
    server.scripts.append(Scripted([gzip.compress(sse(*HELLO_CHUNKS))], headers=headers))
    assert texts(await collect(engine)) == ["Hi", " there."]


async def test_a_stream_that_ends_without_done_still_answers(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    server.scripts.append(Scripted([sse(*HELLO_CHUNKS, done=False)]))
    assert isinstance((await collect(engine))[-1], AnswerEnd)


async def test_a_stream_that_ends_without_a_finish_reason_is_unavailable(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    server.scripts.append(Scripted([sse(chunk({"content": "Hi"}))]))
    with pytest.raises(EngineUnavailableError, match="finish_reason"):
        await collect(engine)


async def test_a_chunk_that_is_not_json_is_unavailable(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    server.scripts.append(Scripted([b"data: {not json\n\n"]))
    with pytest.raises(EngineUnavailableError, match="not JSON"):
        await collect(engine)


async def test_an_error_event_is_a_model_stream_error(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    error = {"error": {"message": "CUDA out of memory", "type": "server_error"}}
    parts = [
        sse(chunk({"content": "Hi"}), done=False),
        f"event: error\ndata: {json.dumps(error)}\n\n".encode(),
    ]
    server.scripts.append(Scripted(parts))
    received: list[LlmEvent] = []
    with pytest.raises(ModelStreamError, match="CUDA out of memory"):
        async for event in engine.open_session("call-1").respond(HELLO):
            received.append(event)
    assert received == [TextDelta("Hi")]


async def test_an_error_given_as_a_string_inside_the_stream_is_a_model_stream_error(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    server.scripts.append(Scripted([sse({"error": "model crashed"}, done=False)]))
    with pytest.raises(ModelStreamError, match="model crashed"):
        await collect(engine)


async def test_tool_calls_without_an_index_are_told_apart_by_their_ids(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    def whole_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        function = {"name": name, "arguments": json.dumps(arguments)}
        return {"id": call_id, "type": "function", "function": function}

    first = whole_call("call_a", "lookup", {"q": "hours"})
    second = whole_call("call_b", "transfer_call", {"dept": "sales"})
    server.scripts.append(
        Scripted([sse(chunk({"tool_calls": [first, second]}), chunk({}, "tool_calls"))])
    )
    events = await collect(engine)
    assert events[:2] == [
        ToolCall("call_a", "lookup", {"q": "hours"}),
        ToolCall("call_b", "transfer_call", {"dept": "sales"}),
    ]
    assert isinstance(events[2], AnswerEnd) and events[2].stop_reason == "tool_use"


async def test_interleaved_tool_call_fragments_are_assembled_by_index(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    def fragment(index: int, arguments: str, **named: str) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
        if named:
            call["id"] = named["id"]
            call["function"]["name"] = named["name"]
        return chunk({"tool_calls": [call]})

    parts = sse(
        fragment(1, '{"dept"', id="call_b", name="transfer_call"),
        fragment(0, '{"q": ', id="call_a", name="lookup"),
        fragment(1, ': "sales"}'),
        fragment(0, '"hours"}'),
        chunk({}, "tool_calls"),
    )
    server.scripts.append(Scripted([parts]))
    events = await collect(engine)
    assert events[:2] == [
        ToolCall("call_a", "lookup", {"q": "hours"}),
        ToolCall("call_b", "transfer_call", {"dept": "sales"}),
    ]


async def test_answers_reuse_one_connection(server: RawServer, engine: OpenAICompatibleLlm) -> None:
    server.scripts += [Scripted([sse(*HELLO_CHUNKS)]) for _ in range(3)]
    for _ in range(3):
        await collect(engine)
    assert len(server.peers) == 3 and len(set(server.peers)) == 1


async def test_answers_reuse_the_connection_when_the_end_of_the_body_comes_after_done(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    server.scripts += [Scripted([sse(*HELLO_CHUNKS)], end_delay_s=0.02) for _ in range(3)]
    for _ in range(3):
        await collect(engine)
    assert len(server.peers) == 3 and len(set(server.peers)) == 1


async def test_a_server_holding_the_stream_open_after_done_still_ends_the_answer(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    server.scripts.append(Scripted([sse(*HELLO_CHUNKS)], hold_open=True))
    assert isinstance((await collect(engine))[-1], AnswerEnd)


async def test_a_base_url_with_a_trailing_slash_posts_to_the_same_path(
    server: RawServer,
) -> None:
    engine = OpenAICompatibleLlm(base_url=server.url + "/")
    server.scripts.append(Scripted([sse(*HELLO_CHUNKS)]))
    await collect(engine)
    await engine.aclose()
    assert server.bodies[0]["model"] == "llama3.1:8b"


async def test_a_server_silent_past_the_read_timeout_is_a_timeout(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_compat, "READ_TIMEOUT_S", 0.2)
    engine = OpenAICompatibleLlm(base_url=server.url)
    server.scripts.append(Scripted([sse(chunk({"content": "Hi"}), done=False)], hold_open=True))
    received: list[LlmEvent] = []
    with pytest.raises(EngineTimeoutError):
        async for event in engine.open_session("call-1").respond(HELLO):
            received.append(event)
    await engine.aclose()
    assert received == [TextDelta("Hi")]


async def test_a_server_silent_past_the_read_timeout_before_its_headers_is_a_timeout(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_compat, "READ_TIMEOUT_S", 0.2)
    engine = OpenAICompatibleLlm(base_url=server.url)
    server.scripts.append(Scripted([sse(*HELLO_CHUNKS)], headers_delay_s=2))
    with pytest.raises(EngineTimeoutError):
        await collect(engine)
    await engine.aclose()


async def test_a_connection_dropped_mid_stream_is_unavailable(
    server: RawServer, engine: OpenAICompatibleLlm
) -> None:
    server.scripts.append(Scripted([sse(chunk({"content": "Hi"}), done=False)], drop=True))
    received: list[LlmEvent] = []
    with pytest.raises(EngineUnavailableError, match="could not reach the server"):
        async for event in engine.open_session("call-1").respond(HELLO):
            received.append(event)
    assert received == [TextDelta("Hi")]


def test_an_engine_built_outside_an_event_loop_answers_inside_one() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        engine = OpenAICompatibleLlm(base_url=f"http://127.0.0.1:{listening.getsockname()[1]}/v1")

        async def answer() -> list[LlmEvent]:
            raw = RawServer()
            await raw.start(listening)
            raw.scripts.append(Scripted([sse(*HELLO_CHUNKS)]))
            try:
                return await collect(engine)
            finally:
                await engine.aclose()
                await raw.stop()

        assert texts(asyncio.run(answer())) == ["Hi", " there."]


async def test_http_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url.removesuffix("/v1"))
    proxied = OpenAICompatibleLlm(base_url="http://llm.invalid/v1")
    server.scripts.append(Scripted([sse(*HELLO_CHUNKS)]))
    assert texts(await collect(proxied)) == ["Hi", " there."]
    await proxied.aclose()
    monkeypatch.setenv("NO_PROXY", "localhost,.invalid")
    direct = OpenAICompatibleLlm(base_url="http://llm.invalid/v1")
    with pytest.raises(EngineUnavailableError, match="could not reach the server"):
        await collect(direct)
    await direct.aclose()
    assert len(server.bodies) == 1


# ---------------------------------------------------------------- error bodies


def json_error(status: int, body: Any) -> Scripted:
    return Scripted([json.dumps(body).encode()], status, {"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("scripted", "expected", "message"),
    [
        (
            json_error(429, {"error": {"message": "Rate limit reached", "type": "requests"}}),
            ThrottledError,
            "429: Rate limit reached",
        ),
        (
            json_error(401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}),
            AuthenticationError,
            "401: Incorrect API key",
        ),
        # Ollama
        (
            json_error(404, {"error": "model 'llama9' not found"}),
            InvalidRequestError,
            "404: model 'llama9' not found",
        ),
        # older vLLM
        (
            json_error(400, {"object": "error", "message": "max_tokens is too large"}),
            InvalidRequestError,
            "400: max_tokens is too large",
        ),
        (json_error(408, {"error": {"message": "slow"}}), EngineTimeoutError, "408: slow"),
        (
            Scripted([b"<html>Gateway Timeout</html>"], 504, {"Content-Type": "text/html"}),
            EngineTimeoutError,
            "504: <html>Gateway Timeout</html>",
        ),
        (
            Scripted([b"upstream connect error"], 502, {"Content-Type": "text/plain"}),
            EngineUnavailableError,
            "502: upstream connect error",
        ),
        (Scripted([], 503, {}), EngineUnavailableError, "503: Service Unavailable"),
    ],
)
async def test_error_statuses_become_typed_errors_with_the_servers_message(
    server: RawServer,
    engine: OpenAICompatibleLlm,
    scripted: Scripted,
    expected: type[EngineError],
    message: str,
) -> None:
    server.scripts.append(scripted)
    with pytest.raises(expected) as raised:
        await collect(engine)
    assert type(raised.value) is expected
    assert raised.value.status == scripted.status
    assert str(raised.value) == f"openai: {message}"


async def test_a_closed_engine_is_unavailable(server: RawServer) -> None:
    engine = OpenAICompatibleLlm(base_url=server.url)
    await engine.aclose()
    with pytest.raises(EngineUnavailableError, match="closed"):
        await collect(engine)
    assert server.bodies == []
