"""Whole calls with the cloud engines: the real Deepgram and Bedrock adapters inside a real
server, against faithful local fakes of Deepgram (listen + speak) and Bedrock ConverseStream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram
from tests.fakes.deepgram_listen import Utterance
from tests.fakes.deepgram_speak import SpeakConnection
from tests.fakes.llm_server import HttpError, RecordedRequest, Reply, ToolUse

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.simulator.webhook import sign

from .server_process import RunningServer, running_server

FAST_MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
DEFAULT_MODEL = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
ANSWER = "Of course, I can help. Which day and time would suit you best?"


@dataclass
class CloudStack:
    server: RunningServer
    deepgram: FakeDeepgram
    bedrock: FakeBedrock


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[CloudStack]:
    """Fakes in this test's event loop; the server in its own process pointed at them."""
    deepgram = FakeDeepgram(transcripts=["I would like to book an appointment"])
    bedrock = FakeBedrock(default=Reply(text=ANSWER))
    async with deepgram, bedrock:
        env = {
            "DEEPGRAM_API_KEY": FAKE_API_KEY,
            "AYBIZA_DEEPGRAM_URL": deepgram.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake-secret",
            "AYBIZA_BEDROCK_ENDPOINT_URL": bedrock.url,
        }
        server_cm = running_server(tmp_path, env)
        # Starting the server blocks; run it off the loop so the fakes keep serving.
        server = await asyncio.to_thread(server_cm.__enter__)
        try:
            yield CloudStack(server, deepgram, bedrock)
        finally:
            await asyncio.to_thread(server_cm.__exit__, None, None, None)


async def caller_says(text: str, language: str = "en-us") -> bytes:
    tts = EspeakTts()
    try:
        voice = VoiceOptions(model=language, language=language)
        return silence(200) + await tts.synthesize(text, voice)
    finally:
        await tts.aclose()


async def ended_record(server: RunningServer, call_sid: str) -> dict[str, object]:
    for _ in range(100):
        record = await server.call_record(call_sid)
        if record["ended_reason"] is not None:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_sid} never ended")


async def dial(stack: CloudStack) -> SimulatedCall:
    call = await SimulatedCall.dial(
        stack.server.base_url, to=DEMO_PHONE_NUMBER, auth_token=stack.server.auth_token
    )
    await call.wait_for_agent_audio(timeout=15)
    await call.wait_until_agent_done(timeout=30)
    return call


def turn_requests(bedrock: FakeBedrock) -> list[RecordedRequest]:
    """Requests that answered a caller turn (the post-call analysis asks the model too)."""
    return [r for r in bedrock.requests if "phone support agent" in str(r.body.get("system"))]


def first_turn(record: dict[str, object]) -> dict[str, object]:
    turns = record["turns"]
    assert isinstance(turns, list) and turns, record
    turn = turns[0]
    assert isinstance(turn, dict)
    return turn


async def test_a_call_runs_on_deepgram_and_bedrock(cloud: CloudStack) -> None:
    call = await dial(cloud)
    async with call:
        await call.say(await caller_says("I would like to book an appointment"))
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=30)
    record = await ended_record(cloud.server, call.call_sid)
    assert record["engines"]["stt"] == "deepgram"  # type: ignore[index]
    assert record["engines"]["tts"] == "deepgram"  # type: ignore[index]
    assert record["engines"]["llm"] == "bedrock"  # type: ignore[index]
    turn = first_turn(record)
    assert turn["user_text"] == "I would like to book an appointment"
    assert turn["agent_text"] == ANSWER
    # A short turn routes to the agent's fast model, sent as its cross-region inference profile.
    assert turn["model"] == "claude-3-5-haiku"
    assert turn["notes"]["route"].startswith("short turn")  # type: ignore[index]
    # What Bedrock was asked: the agent's prompt and the caller's words.
    [request] = turn_requests(cloud.bedrock)
    assert request.model == FAST_MODEL
    assert request.body["system"][0]["text"].startswith("You are the phone support agent")
    assert request.body["messages"][-1] == {
        "role": "user",
        "content": [{"text": "I would like to book an appointment"}],
    }
    # One speak socket for the call, a Speak per sentence; the listen socket got raw μ-law.
    speak = cloud.deepgram.speak_connections
    assert len(speak) == 1
    spoken = [m["text"] for m in speak[0].control if m.get("type") == "Speak"]
    assert spoken == ["Of course, I can help.", "Which day and time would suit you best?"]
    listen = cloud.deepgram.listen_connections[0]
    assert ("encoding", "mulaw") in listen.query and ("model", "nova-3") in listen.query


async def test_barge_in_sends_clear_to_the_voice_and_to_twilio(cloud: CloudStack) -> None:
    long_answer = " ".join(
        f"Sentence number {n} tells you about our many appointment options." for n in range(8)
    )
    cloud.bedrock.script(Reply(text=long_answer))
    cloud.deepgram.script.utterances.append(Utterance("stop please"))
    call = await dial(cloud)
    async with call:
        await call.say(await caller_says("I would like to book an appointment"))
        await call.wait_for_agent_audio(timeout=15)
        await asyncio.sleep(1.0)
        await call.say(await caller_says("stop please"))
        await call.wait_until_agent_done(timeout=30)
        assert call.clears, "Twilio was told to clear"
    speak = cloud.deepgram.speak_connections[0]
    assert any(m.get("type") == "Clear" for m in speak.control)
    record = await ended_record(cloud.server, call.call_sid)
    turn = first_turn(record)
    assert turn["interrupted"]
    assert str(turn["heard_text"]) != long_answer
    assert long_answer.startswith(str(turn["heard_text"]).removesuffix("..."))


async def test_a_dropped_recognition_socket_loses_no_words(cloud: CloudStack) -> None:
    call = await dial(cloud)
    async with call:
        received = len(cloud.deepgram.listen_connections[0].audio)
        # Drop the socket half a second into the caller's utterance.
        cloud.deepgram.drop_after_bytes = received + 200 * 8 + 4000
        await call.say(await caller_says("I would like to book an appointment"))
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=30)
    assert len(cloud.deepgram.listen_connections) >= 2, "the adapter reconnected"
    record = await ended_record(cloud.server, call.call_sid)
    assert first_turn(record)["user_text"] == "I would like to book an appointment"
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{cloud.server.base_url}/metrics")).text
    assert 'aybiza_engine_errors_total{engine="deepgram",kind="stt_reconnect"}' in metrics


async def test_a_throttled_model_fails_over_to_the_next(cloud: CloudStack) -> None:
    cloud.bedrock.script(
        HttpError(429, "ThrottlingException", "Too many requests"), model=FAST_MODEL
    )
    call = await dial(cloud)
    async with call:
        await call.say(await caller_says("I would like to book an appointment"))
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=30)
    record = await ended_record(cloud.server, call.call_sid)
    turn = first_turn(record)
    assert turn["agent_text"] == ANSWER
    assert turn["model"] == "claude-3-5-sonnet-v2"
    assert turn["notes"]["attempts"] == [  # type: ignore[index]
        {"model": "claude-3-5-haiku", "outcome": "ThrottledError"},
        {"model": "claude-3-5-sonnet-v2", "outcome": "won"},
    ]
    assert [r.model for r in turn_requests(cloud.bedrock)] == [FAST_MODEL, DEFAULT_MODEL]


BILINGUAL = {
    "name": "Bilingual desk",
    "system_prompt": "You are the phone support agent of a bilingual desk.",
    "greeting": "Hello, how can I help?",
    "voice": {"model": "aura-2-thalia-en"},
    "language": {"primary": "en-US", "auto_detect": True, "supported": ["en-US", "es-ES"]},
}


async def bilingual_number(stack: CloudStack) -> str:
    """A number routed to a new English and Spanish agent that follows the caller's language."""
    number = "+1555010" + str(len(stack.deepgram.listen_connections)).zfill(4)
    headers = {"Authorization": f"Bearer {stack.server.api_key}"}
    async with httpx.AsyncClient(base_url=stack.server.base_url, headers=headers) as client:
        created = await client.post("/v1/agents", json=BILINGUAL)
        assert created.status_code == 201, created.text
        bound = await client.post(
            "/v1/phone-numbers",
            json={"number": number, "type": "twilio", "agent_id": created.json()["id"]},
        )
        assert bound.status_code == 201, bound.text
    return number


def spoken_texts(connection: SpeakConnection) -> list[str]:
    """What a speak socket was asked to say."""
    return [str(m["text"]) for m in connection.control if m.get("type") == "Speak"]


async def test_a_caller_speaking_spanish_is_answered_in_spanish_with_a_spanish_voice(
    cloud: CloudStack,
) -> None:
    number = await bilingual_number(cloud)
    cloud.deepgram.script.utterances[:] = [Utterance("quisiera una cita", language="es")]
    call = await SimulatedCall.dial(
        cloud.server.base_url, to=number, auth_token=cloud.server.auth_token
    )
    async with call:
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=30)
        await call.say(await caller_says("quisiera una cita", "es"))
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=30)
    listen = cloud.deepgram.listen_connections[-1]
    assert ("language", "multi") in listen.query
    record = await ended_record(cloud.server, call.call_sid)
    assert first_turn(record)["notes"]["language"] == "es-ES"  # type: ignore[index]
    request = [r for r in cloud.bedrock.requests if "bilingual" in str(r.body.get("system"))][-1]
    assert "Spanish" in request.body["system"][-1]["text"]
    voices = [dict(c.query).get("model") for c in cloud.deepgram.speak_connections]
    assert "aura-2-celeste-es" in voices


async def test_item17_a_caller_switching_to_spanish_is_answered_with_the_spanish_voice(
    cloud: CloudStack,
) -> None:
    number = await bilingual_number(cloud)
    english, spanish = "Of course. Which day suits you?", "Claro. ¿Qué día le viene bien?"
    cloud.bedrock.script(Reply(text=english), Reply(text=spanish))
    cloud.deepgram.script.utterances[:] = [
        Utterance("I would like an appointment", language="en"),
        Utterance("mejor hablamos en español", language="es"),
    ]
    call = await SimulatedCall.dial(
        cloud.server.base_url, to=number, auth_token=cloud.server.auth_token
    )
    async with call:
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=30)
        for line, language in (
            ("I would like an appointment", "en"),
            ("mejor hablamos en español", "es"),
        ):
            await call.say(await caller_says(line, language))
            await call.wait_for_agent_audio(timeout=15)
            await call.wait_until_agent_done(timeout=30)
    # One multilingual stream heard both languages.
    streams = cloud.deepgram.listen_connections
    assert len(streams) == 1 and ("language", "multi") in streams[0].query
    record = await ended_record(cloud.server, call.call_sid)
    turns = record["turns"]
    assert isinstance(turns, list)
    assert [(t["agent_text"], t["notes"]["language"]) for t in turns] == [
        (english, "en-US"),
        (spanish, "es-ES"),
    ]
    # Each answer went to the voice of its language: English to Thalia, Spanish to Celeste.
    said_by: dict[str, str] = {}
    for connection in cloud.deepgram.speak_connections:
        voice = str(dict(connection.query).get("model"))
        said_by[voice] = " ".join([said_by.get(voice, ""), *spoken_texts(connection)]).strip()
    assert english in said_by["aura-2-thalia-en"] and english not in said_by["aura-2-celeste-es"]
    assert spanish in said_by["aura-2-celeste-es"] and spanish not in said_by["aura-2-thalia-en"]
    # The model was told to answer the second turn in Spanish.
    asked = [r for r in cloud.bedrock.requests if "bilingual" in str(r.body.get("system"))]
    assert "Spanish" not in asked[0].body["system"][-1]["text"]
    assert "Spanish" in asked[1].body["system"][-1]["text"]


async def test_a_warm_transfer_carries_the_agents_summary_to_the_person(
    cloud: CloudStack,
) -> None:
    summary = "The caller wants to move Tuesday's appointment."
    cloud.bedrock.script(
        Reply(
            text="I will put you through to a colleague now.",
            tool=ToolUse("transfer_call", {"to": "+15005550009", "summary": summary}),
        )
    )
    call = await dial(cloud)
    async with call:
        await call.say(await caller_says("I would like to book an appointment"))
        await call.wait_until_ended(timeout=30)
    record = await ended_record(cloud.server, call.call_sid)
    assert record["ended_reason"] == "transferred"
    assert record["transfer_to"] == "+15005550009"
    # Twilio asks what to do once the stream closed: dial, whispering the summary first.
    base = cloud.server.base_url
    form = {"CallSid": call.call_sid, "From": "+15558675310", "To": DEMO_PHONE_NUMBER}
    async with httpx.AsyncClient(base_url=base) as client:
        url = f"{base}/twilio/connect-action"
        action = await client.post(
            "/twilio/connect-action",
            data=form,
            headers={"X-Twilio-Signature": sign(cloud.server.auth_token, url, form)},
        )
        assert action.status_code == 200, action.text
        dial_xml = ElementTree.fromstring(action.text).find("Dial")
        assert dial_xml is not None
        number = dial_xml.find("Number")
        assert number is not None and number.text == "+15005550009"
        whisper_url = number.get("url", "")
        assert whisper_url.endswith(f"/twilio/whisper/{record['id']}")
        whisper = await client.post(
            whisper_url.removeprefix(base),
            data=form,
            headers={"X-Twilio-Signature": sign(cloud.server.auth_token, whisper_url, form)},
        )
    said = ElementTree.fromstring(whisper.text).find("Say")
    assert said is not None and summary in (said.text or "")
