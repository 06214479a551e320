"""DeepgramTts against the fake Deepgram: one socket per call across sentences, clearing after
a stopped sentence, REST when the socket fails or the flush budget is spent, REST phrases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram, speech_audio

from aybiza.agents.speech import VoiceOptions
from aybiza.providers.base import TtsEngine, TtsSession
from aybiza.providers.errors import (
    AuthenticationError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidRequestError,
)
from aybiza.providers.tts.deepgram import DeepgramTts, DeepgramTtsSession, deepgram_voice
from aybiza.providers.tts.deepgram_rest import base_urls

THALIA = VoiceOptions(model="aura-2-thalia-en", language="en-US")
SENTENCES = ["Hello, thanks for calling.", "How can I help you today?", "I can check that."]
LONG = " ".join(["This sentence keeps going for quite a while."] * 8)
WAIT_S = 10.0  # generous: the suite must pass on a loaded 2-core machine


def fallbacks() -> float:
    labels = {"kind": "tts_fallback_rest", "engine": "deepgram"}
    return REGISTRY.get_sample_value("aybiza_engine_errors_total", labels) or 0.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram() as server:
        yield server


@pytest.fixture
async def tts(fake: FakeDeepgram) -> AsyncIterator[DeepgramTts]:
    engine = DeepgramTts(FAKE_API_KEY, base_url=fake.url)
    yield engine
    await engine.aclose()


async def spoken(session: DeepgramTtsSession, text: str) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [chunk async for chunk in session.stream(text)]

    return await asyncio.wait_for(collect(), WAIT_S)


def types(messages: list[dict[str, object]]) -> list[object]:
    return [message["type"] for message in messages]


# ---------------------------------------------------------------- the call's socket


def test_engine_and_session_implement_the_tts_interfaces() -> None:
    engine: TtsEngine = DeepgramTts("key")  # mypy checks the protocols structurally
    session: TtsSession = engine.open_session(THALIA)
    assert engine.name == "deepgram" and isinstance(session, DeepgramTtsSession)


async def test_sentences_stream_over_one_socket_opened_on_first_use(
    fake: FakeDeepgram, tts: DeepgramTts
) -> None:
    session = tts.open_session(THALIA)
    assert fake.speak_connections == []
    for sentence in SENTENCES:
        chunks = await spoken(session, sentence)
        assert len(chunks) > 1  # streamed in several frames, not one at the end
        assert b"".join(chunks) == speech_audio(sentence)
    await session.aclose()
    await session.aclose()

    [connection] = fake.speak_connections
    assert connection.query == [
        ("model", "aura-2-thalia-en"),
        ("encoding", "mulaw"),
        ("sample_rate", "8000"),
    ]
    speaks = [m["text"] for m in connection.control if m["type"] == "Speak"]
    assert speaks == SENTENCES
    assert types(connection.control) == ["Speak", "Flush"] * 3 + ["Close"]
    assert connection.close_code == 1000
    assert fake.rest_requests == []


@pytest.mark.parametrize("clear_first", [True, False], ids=["clear", "no-clear"])
async def test_sentence_stopped_mid_way_is_cleared_before_the_next_one(
    fake: FakeDeepgram, tts: DeepgramTts, clear_first: bool
) -> None:
    session = tts.open_session(THALIA)
    first_chunk = asyncio.Event()

    async def listen_then_hang() -> None:
        async for _ in session.stream(LONG):
            first_chunk.set()
            await asyncio.Event().wait()  # the caller barges in while this plays

    consumer = asyncio.create_task(listen_then_hang())
    await asyncio.wait_for(first_chunk.wait(), WAIT_S)
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    if clear_first:
        await session.clear()

    assert b"".join(await spoken(session, SENTENCES[1])) == speech_audio(SENTENCES[1])
    [connection] = fake.speak_connections
    assert types(connection.control) == ["Speak", "Flush", "Clear", "Speak", "Flush"]
    assert "Cleared" in types(connection.sent)
    await session.aclose()


async def test_clear_between_sentences_clears_the_open_socket_and_the_next_is_clean(
    fake: FakeDeepgram, tts: DeepgramTts
) -> None:
    session = tts.open_session(THALIA)
    await session.clear()  # no socket yet: nothing to send
    assert fake.speak_connections == []
    await spoken(session, SENTENCES[0])
    await session.clear()  # a barge-in after the sentence was read: Deepgram is told anyway
    assert b"".join(await spoken(session, SENTENCES[1])) == speech_audio(SENTENCES[1])
    [connection] = fake.speak_connections
    assert types(connection.control) == ["Speak", "Flush", "Clear", "Speak", "Flush"]
    await session.aclose()


async def test_latency_delays_each_sentences_first_audio(fake: FakeDeepgram) -> None:
    fake.latency_ms = 300
    tts = DeepgramTts(FAKE_API_KEY, base_url=fake.url)
    session = tts.open_session(THALIA)
    for sentence in SENTENCES[:2]:
        asked = time.monotonic()
        chunks = session.stream(sentence)
        await asyncio.wait_for(anext(chunks), WAIT_S)
        assert time.monotonic() - asked >= 0.29
        await chunks.aclose()
    await session.aclose()
    await tts.aclose()


# ---------------------------------------------------------------- falling back to REST


async def test_socket_dropping_mid_sentence_finishes_it_over_rest_then_reconnects(
    fake: FakeDeepgram, tts: DeepgramTts
) -> None:
    before = fallbacks()
    session = tts.open_session(THALIA)
    fake.tts_ws_fail = "drop"
    audio = b"".join(await spoken(session, SENTENCES[0]))
    # The first frame came over the socket, the rest over REST: played once, in order.
    assert audio == speech_audio(SENTENCES[0])
    assert len(fake.speak_connections[0].audio) > 0
    assert [r.text for r in fake.rest_requests] == [SENTENCES[0]]
    assert fallbacks() == before + 1

    fake.tts_ws_fail = None
    assert b"".join(await spoken(session, SENTENCES[1])) == speech_audio(SENTENCES[1])
    assert len(fake.speak_connections) == 2
    assert len(fake.rest_requests) == 1
    await session.aclose()


async def test_refused_socket_speaks_the_sentence_over_rest(
    fake: FakeDeepgram, tts: DeepgramTts
) -> None:
    before = fallbacks()
    fake.tts_ws_fail = "refuse"
    session = tts.open_session(THALIA)
    assert b"".join(await spoken(session, SENTENCES[0])) == speech_audio(SENTENCES[0])
    assert fake.speak_connections == []
    assert dict(fake.rest_requests[0].query)["model"] == "aura-2-thalia-en"
    assert fallbacks() == before + 1
    await session.aclose()


async def test_rest_failing_too_raises_engine_unavailable(
    fake: FakeDeepgram, tts: DeepgramTts
) -> None:
    fake.tts_ws_fail = "refuse"
    fake.rest_fail_status = 500
    session = tts.open_session(THALIA)
    with pytest.raises(EngineUnavailableError, match="REST"):
        await spoken(session, SENTENCES[0])
    await session.aclose()
    with pytest.raises(EngineUnavailableError, match="closed"):
        await spoken(session, SENTENCES[0])


@pytest.mark.parametrize(
    ("status", "expected"),
    [(408, EngineTimeoutError), (403, AuthenticationError), (413, InvalidRequestError)],
)
async def test_item5_rest_statuses_map_through_the_one_table(
    fake: FakeDeepgram, tts: DeepgramTts, status: int, expected: type[Exception]
) -> None:
    fake.rest_fail_status = status
    with pytest.raises(expected, match=f"HTTP {status}"):
        await tts.synthesize("Hello.", THALIA)


async def test_flush_budget_spent_sends_the_next_sentence_over_rest(fake: FakeDeepgram) -> None:
    before = fallbacks()
    tts = DeepgramTts(FAKE_API_KEY, base_url=fake.url, flush_limit=2, flush_window_s=60)
    session = tts.open_session(THALIA)
    for sentence in SENTENCES:
        assert b"".join(await spoken(session, sentence)) == speech_audio(sentence)
    await session.aclose()
    await tts.aclose()
    assert types(fake.speak_connections[0].control).count("Flush") == 2
    assert [r.text for r in fake.rest_requests] == [SENTENCES[2]]
    assert fallbacks() == before  # a spent budget is not an engine failure


async def test_deepgrams_flush_limit_warning_sends_the_sentence_over_rest(
    fake: FakeDeepgram,
) -> None:
    # An engine that does not count flushes (a budget above Deepgram's) meets its Warning.
    tts = DeepgramTts(FAKE_API_KEY, base_url=fake.url, flush_limit=100)
    session = tts.open_session(THALIA)
    for index in range(21):
        sentence = f"Sentence {index}."
        assert b"".join(await spoken(session, sentence)) == speech_audio(sentence)
    await session.aclose()
    await tts.aclose()
    assert "Warning" in types(fake.speak_connections[0].sent)
    assert [r.text for r in fake.rest_requests] == ["Sentence 20."]


# ---------------------------------------------------------------- REST phrases and voices


async def test_synthesize_returns_the_rest_body(fake: FakeDeepgram, tts: DeepgramTts) -> None:
    audio = await tts.synthesize("Thank you for calling Acme.", THALIA)
    assert audio == speech_audio("Thank you for calling Acme.")
    [request] = fake.rest_requests
    assert request.query == [
        ("model", "aura-2-thalia-en"),
        ("encoding", "mulaw"),
        ("sample_rate", "8000"),
        ("container", "none"),
    ]
    assert await tts.synthesize("  ", THALIA) == b""
    chunks = [chunk async for chunk in tts.stream("One more.", THALIA)]
    assert b"".join(chunks) == speech_audio("One more.")


async def test_synthesize_with_a_wrong_key_raises_authentication_error(
    fake: FakeDeepgram,
) -> None:
    tts = DeepgramTts("wrong-key", base_url=fake.url)
    with pytest.raises(AuthenticationError, match="Invalid credentials"):
        await tts.synthesize("Hello.", THALIA)
    await tts.aclose()
    with pytest.raises(EngineUnavailableError, match="closed"):
        await tts.synthesize("Hello.", THALIA)


async def test_a_websocket_base_url_serves_both_socket_and_rest(fake: FakeDeepgram) -> None:
    tts = DeepgramTts(FAKE_API_KEY, base_url=fake.ws_url)
    session = tts.open_session(THALIA)
    assert b"".join(await spoken(session, "Hi.")) == speech_audio("Hi.")
    assert await tts.synthesize("Bye.", THALIA) == speech_audio("Bye.")
    await session.aclose()
    await tts.aclose()
    assert len(fake.speak_connections) == 1 and len(fake.rest_requests) == 1


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.deepgram.com", ("wss://api.deepgram.com", "https://api.deepgram.com")),
        ("wss://dg.example.com/", ("wss://dg.example.com", "https://dg.example.com")),
        ("http://127.0.0.1:9001", ("ws://127.0.0.1:9001", "http://127.0.0.1:9001")),
        ("ws://127.0.0.1:9001/", ("ws://127.0.0.1:9001", "http://127.0.0.1:9001")),
    ],
)
def test_base_urls_pair_websocket_and_http_schemes(
    base_url: str, expected: tuple[str, str]
) -> None:
    assert base_urls(base_url) == expected


@pytest.mark.parametrize(
    ("voice", "model"),
    [
        (VoiceOptions(model="aura-2-thalia-en"), "aura-2-thalia-en"),
        # Item 16: Aura-1 names are sent as their Aura-2 voices; every Aura-2 language has one.
        (VoiceOptions(model="aura-asteria-en"), "aura-2-asteria-en"),
        (VoiceOptions(model="aura-helios-en"), "aura-2-draco-en"),
        (VoiceOptions(model="en-us", language="en-US"), "aura-2-thalia-en"),
        (VoiceOptions(model="es", language="es-ES"), "aura-2-celeste-es"),
        (VoiceOptions(model="fr", language="fr-FR"), "aura-2-agathe-fr"),
        (VoiceOptions(model="pt", language="pt-BR"), "aura-2-thalia-en"),
    ],
)
def test_voice_names_aura_2_as_is_aura_1_mapped_others_by_language(
    voice: VoiceOptions, model: str
) -> None:
    assert deepgram_voice(voice) == model
