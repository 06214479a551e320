"""The vendor's own SDK (deepgram-sdk 7.17) as a client of the fake Deepgram.

If the SDK connects, sends what it sends and parses every message into its typed models, the
fake speaks Deepgram's protocol: live listen, REST speak and streaming speak. Each message is
also validated strictly (the SDK itself builds its models without validation), so a missing
required field fails here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from deepgram import AsyncDeepgramClient
from deepgram.environment import DeepgramClientEnvironment
from deepgram.listen.v1.types import (
    ListenV1Metadata,
    ListenV1Results,
    ListenV1SpeechStarted,
    ListenV1UtteranceEnd,
)
from deepgram.speak.v1.types import (
    SpeakV1Cleared,
    SpeakV1Flushed,
    SpeakV1Metadata,
    SpeakV1Text,
)
from pydantic import BaseModel
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram, Utterance, speech_audio

LOUD = b"\x10" * 160  # one 20 ms μ-law frame of a loud signal
SILENT = b"\xff" * 160  # one 20 ms μ-law frame of silence
TRANSCRIPT = "I need a refund."


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram(transcripts=[TRANSCRIPT, Utterance("Necesito ayuda.", "es")]) as f:
        yield f


def sdk_client(fake: FakeDeepgram) -> AsyncDeepgramClient:
    environment = DeepgramClientEnvironment(
        base=fake.url, production=fake.ws_url, agent=fake.ws_url, agent_rest=fake.url
    )
    return AsyncDeepgramClient(api_key=FAKE_API_KEY, environment=environment)


def strictly_valid(message: BaseModel) -> None:
    """Re-validate an SDK model from its own data: raises if a required field is missing."""
    type(message).model_validate(message.model_dump(exclude_unset=True))


async def test_sdk_live_listen_parses_every_message_of_the_fake(fake: FakeDeepgram) -> None:
    client = sdk_client(fake)
    received: list[Any] = []
    async with client.listen.v1.connect(
        model="nova-3",
        encoding="mulaw",
        sample_rate=8000,
        channels=1,
        interim_results="true",
        endpointing=300,
        utterance_end_ms=1000,
        vad_events="true",
        smart_format="true",
        punctuate="true",
        language="en-US",
        keyterm=["Acme", "refund"],
    ) as connection:

        async def collect() -> None:
            async for message in connection:
                received.append(message)

        collector = asyncio.create_task(collect())
        for frame in [LOUD] * 50 + [SILENT] * 70:  # 1 s of speech, 1.4 s of silence
            await connection.send_media(frame)
        await connection.send_keep_alive()
        await connection.send_close_stream()
        await asyncio.wait_for(collector, timeout=10)

    kinds = [type(message) for message in received]
    assert kinds[0] is ListenV1SpeechStarted
    assert ListenV1UtteranceEnd in kinds
    assert kinds[-1] is ListenV1Metadata
    results = [m for m in received if isinstance(m, ListenV1Results)]
    interims = [r for r in results if not r.is_final]
    finals = [r for r in results if r.is_final]
    assert interims and all(
        TRANSCRIPT.startswith(r.channel.alternatives[0].transcript) for r in interims
    )
    assert [r.channel.alternatives[0].transcript for r in finals] == [TRANSCRIPT]
    final = finals[0]
    assert final.speech_final is True and final.from_finalize is False
    assert final.start == 0.0 and final.duration == pytest.approx(1.32, abs=0.03)
    words = final.channel.alternatives[0].words
    assert [w.punctuated_word for w in words] == TRANSCRIPT.split()
    assert words[0].start == 0.0 and words[-1].end == pytest.approx(1.0)
    assert final.metadata.model_info.arch == "nova-3"
    for message in received:
        strictly_valid(message)

    record = fake.listen_connections[0]
    assert record.authorization == f"Token {FAKE_API_KEY}"
    assert [value for key, value in record.query if key == "keyterm"] == ["Acme", "refund"]
    assert dict(record.query)["encoding"] == "mulaw"
    assert record.control == [{"type": "KeepAlive"}, {"type": "CloseStream"}]
    assert record.close_code == 1000


async def test_sdk_finalize_gets_a_from_finalize_result_with_the_detected_language(
    fake: FakeDeepgram,
) -> None:
    fake.script.finalized = 1  # the Spanish utterance is next
    client = sdk_client(fake)
    async with client.listen.v1.connect(
        model="nova-3", encoding="mulaw", sample_rate=8000, language="multi"
    ) as connection:
        for _ in range(30):
            await connection.send_media(LOUD)
        await connection.send_finalize()
        result = None
        while result is None:
            message = await asyncio.wait_for(connection.recv(), timeout=5)
            if isinstance(message, ListenV1Results) and message.is_final:
                result = message
        await connection.send_close_stream()
    strictly_valid(result)
    assert result.from_finalize is True
    alternative = result.channel.alternatives[0]
    assert alternative.transcript == "necesito ayuda"  # no punctuate/smart_format asked
    assert alternative.languages == ["es"]
    assert {word.language for word in alternative.words} == {"es"}


async def test_sdk_rest_speak_gets_the_raw_mulaw_body(fake: FakeDeepgram) -> None:
    client = sdk_client(fake)
    chunks = client.speak.v1.audio.generate(
        text="Hello, how can I help?",
        model="aura-2-thalia-en",
        encoding="mulaw",
        sample_rate=8000,
        container="none",
    )
    audio = b"".join([chunk async for chunk in chunks])
    assert audio == speech_audio("Hello, how can I help?")
    request = fake.rest_requests[0]
    assert request.text == "Hello, how can I help?"
    assert dict(request.query) == {
        "model": "aura-2-thalia-en",
        "encoding": "mulaw",
        "sample_rate": "8000",
        "container": "none",
    }


async def test_sdk_speak_socket_streams_flushes_and_clears(fake: FakeDeepgram) -> None:
    client = sdk_client(fake)
    async with client.speak.v1.connect(
        model="aura-2-thalia-en", encoding="mulaw", sample_rate=8000
    ) as connection:
        metadata = await asyncio.wait_for(connection.recv(), timeout=5)
        assert isinstance(metadata, SpeakV1Metadata)
        strictly_valid(metadata)
        assert metadata.model_name == "aura-2-thalia-en"

        await connection.send_text(SpeakV1Text(type="Speak", text="Hello there."))
        await connection.send_flush()
        audio = b""
        while isinstance(message := await asyncio.wait_for(connection.recv(), 5), bytes):
            audio += message
        assert isinstance(message, SpeakV1Flushed)
        strictly_valid(message)
        assert (message.type, message.sequence_id) == ("Flushed", 0)
        assert audio == speech_audio("Hello there.")

        await connection.send_clear()
        cleared = await asyncio.wait_for(connection.recv(), timeout=5)
        # The SDK's Flushed and Cleared models have the same fields and both accept either type
        # name, so its unchecked union builds a SpeakV1Flushed; the ``type`` tells them apart.
        assert isinstance(cleared, SpeakV1Flushed | SpeakV1Cleared)
        assert cleared.type == "Cleared"
        SpeakV1Cleared.model_validate(cleared.model_dump())
        await connection.send_close()

    assert [json.dumps(m) for m in fake.speak_connections[0].control] == [
        '{"type": "Speak", "text": "Hello there."}',
        '{"type": "Flush"}',
        '{"type": "Clear"}',
        '{"type": "Close"}',
    ]
    assert fake.speak_connections[0].close_code == 1000


async def test_sdk_sees_401_for_a_wrong_key(fake: FakeDeepgram) -> None:
    environment = DeepgramClientEnvironment(
        base=fake.url, production=fake.ws_url, agent=fake.ws_url, agent_rest=fake.url
    )
    client = AsyncDeepgramClient(api_key="wrong-key", environment=environment)
    with pytest.raises(Exception) as refused:
        async with client.listen.v1.connect(model="nova-3", encoding="mulaw", sample_rate=8000):
            pass
    assert getattr(refused.value, "status_code", None) == 401


async def test_rest_speak_headers_and_json_errors_are_deepgrams(fake: FakeDeepgram) -> None:
    url = (
        f"{fake.url}/v1/speak?model=aura-2-thalia-en&encoding=mulaw&sample_rate=8000&container=none"
    )
    headers = {"Authorization": f"Token {FAKE_API_KEY}"}
    async with httpx.AsyncClient() as client:
        spoken = await client.post(url, headers=headers, json={"text": "Hi."})
        malformed = await client.post(url, headers=headers, content=b"{not json")
        empty = await client.post(url, headers=headers, json={"text": ""})
        unauthorized = await client.post(url, json={"text": "Hi."})
    assert spoken.status_code == 200 and spoken.content == speech_audio("Hi.")
    assert spoken.headers["dg-model-name"] == "aura-2-thalia-en"
    assert spoken.headers["dg-char-count"] == "3"
    assert spoken.headers["dg-request-id"] and spoken.headers["dg-model-uuid"]
    for refused, status in ((malformed, 400), (empty, 400), (unauthorized, 401)):
        assert refused.status_code == status
        assert set(refused.json()) == {"err_code", "err_msg", "request_id"}
        assert refused.headers["dg-error"] == refused.json()["err_msg"]
