"""Event-stream bodies real Bedrock (or a broken network) can send that the scripted fake does
not: a frame split across reads, padding and unknown events, a generic error frame, a corrupt
frame, a body cut mid-frame. Served by a loopback server writing the frames given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from tests.fakes.eventstream import encode_message, event_frame

from aybiza.providers.base import AnswerEnd, LlmEvent, LlmRequest, Message, TextDelta, Usage
from aybiza.providers.errors import EngineUnavailableError, ThrottledError
from aybiza.providers.llm.bedrock import BedrockLlm

HELLO = LlmRequest(system="Be brief.", messages=(Message("user", "Hello?"),))
Serve = Callable[[list[bytes]], Awaitable[str]]


@pytest.fixture(autouse=True)
def dummy_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts a server answering ConverseStream with the given writes, one after another."""
    runners: list[web.AppRunner] = []

    async def start(writes: list[bytes]) -> str:
        async def converse_stream(request: web.Request) -> web.StreamResponse:
            await request.read()
            response = web.StreamResponse(
                headers={"Content-Type": "application/vnd.amazon.eventstream"}
            )
            response.enable_chunked_encoding()
            await response.prepare(request)
            for data in writes:
                await response.write(data)
                await asyncio.sleep(0.01)  # separate reads on the client
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post("/model/{model_id}/converse-stream", converse_stream)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def collect(url: str) -> list[LlmEvent]:
    engine = BedrockLlm(region="us-east-1", endpoint_url=url)
    try:
        return [event async for event in engine.open_session("call-1").respond(HELLO)]
    finally:
        await engine.aclose()


def text_delta(text: str) -> bytes:
    return event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})


END = [
    event_frame("contentBlockStop", {"contentBlockIndex": 0}),
    event_frame("messageStop", {"stopReason": "end_turn"}),
    event_frame("metadata", {"usage": {"inputTokens": 7, "outputTokens": 2}, "metrics": {}}),
]


async def test_frames_split_across_reads_padding_and_unknown_events(serve: Serve) -> None:
    hello, there = text_delta("Hello"), text_delta(" there")
    padded = event_frame(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "!"}, "p": "abcdef"}
    )
    reasoning = event_frame(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "x"}}}
    )
    writes = [
        event_frame("messageStart", {"role": "assistant"}) + hello[:9],  # a frame cut in two
        hello[9:] + there[:20],
        there[20:],
        padded,
        reasoning,
        event_frame("somethingNew", {"a": 1}),
        b"".join(END),
    ]
    events = await collect(await serve(writes))
    assert events[:3] == [TextDelta("Hello"), TextDelta(" there"), TextDelta("!")]
    assert isinstance(events[3], AnswerEnd) and len(events) == 4
    assert events[3].usage == Usage(7, 2)


async def test_a_generic_error_frame_raises_its_typed_error(serve: Serve) -> None:
    error = encode_message(
        {
            ":message-type": "error",
            ":error-code": "ThrottlingException",
            ":error-message": "Rate exceeded",
        },
        b"",
    )
    with pytest.raises(ThrottledError, match="Rate exceeded"):
        await collect(await serve([text_delta("Hi"), error]))


async def test_a_frame_with_a_bad_checksum_is_a_corrupt_stream(serve: Serve) -> None:
    frame = bytearray(text_delta("Hi"))
    frame[-1] ^= 0xFF  # the message CRC no longer matches
    with pytest.raises(EngineUnavailableError, match="corrupt event stream"):
        await collect(await serve([bytes(frame), *END]))


async def test_a_body_cut_mid_frame_is_an_unavailable_engine(serve: Serve) -> None:
    frame = text_delta("Hi")
    with pytest.raises(EngineUnavailableError, match="before messageStop"):
        await collect(await serve([frame, END[0], END[1][:10]]))
