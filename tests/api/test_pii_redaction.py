"""A whole call to an agent that redacts cards and emails (``redaction.categories``): the caller
reads a card number and an email over a Twilio media stream, Deepgram (the faithful fake,
through the real adapter) recognises them, the agent's flow reads them back. Nothing the
platform stores (every row of every table of the SQLite database) or sends (the signed webhooks
received) holds either; Deepgram was asked to redact the card itself (``redact=pci``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.api.carrier import BackgroundLoop
from tests.api.conftest import ApiServer, serve_api
from tests.api.helpers import create_number
from tests.api.receiver import Receiver
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.config import Settings
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.store.database import Database
from aybiza.store.models import Base

CARD = "4111 1111 1111 1111"
CALLER_LINE = f"My card number is {CARD} and my email is john dot smith at example dot com."
# What must not be anywhere: the card however it is grouped, the mailbox and its domain.
TRACES = ("4111 1111", "4111111111111111", "john", "smith", "example dot com")

AGENT: dict[str, Any] = {
    "name": "Payments desk",
    "system_prompt": "Take the caller's card and email.",
    "greeting": "Hello, this is the payments desk.",
    "engines": {"stt": "deepgram", "tts": "espeak", "llm": "flow"},
    "automation": {"tools_enabled": False, "async_workflows": True},
    "analysis": {"fields": {"details": "the card and email the caller gave"}},
    "redaction": {"categories": ["credit_card", "email"]},
    "flow": {
        "start": "main",
        "nodes": {
            "main": {
                "type": "listen",
                "capture": "details",
                "branches": [{"keywords": ["card"], "next": "confirm"}],
            },
            "confirm": {"type": "say", "text": "Thank you. I have {{details}}.", "next": "bye"},
            "bye": {"type": "end", "text": "Goodbye."},
        },
    },
}


@dataclass
class Stack:
    api: ApiServer
    deepgram: FakeDeepgram


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A server on a fresh SQLite database whose recogniser is the fake Deepgram."""
    background = BackgroundLoop()
    deepgram = FakeDeepgram(transcripts=[CALLER_LINE])
    background.run(deepgram.start())

    def with_deepgram(settings: Settings, _base_url: str) -> Settings:
        return replace(settings, deepgram_api_key=FAKE_API_KEY, deepgram_url=deepgram.url)

    try:
        data_dir = tmp_path_factory.mktemp("pii")
        with serve_api("sqlite", data_dir, with_deepgram) as api:
            yield Stack(api, deepgram)
    finally:
        background.run(deepgram.stop())
        background.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


async def _caller_audio(text: str) -> bytes:
    tts = EspeakTts()
    try:
        return silence(200) + await tts.synthesize(text, VoiceOptions(model="en-us")) + silence(800)
    finally:
        await tts.aclose()


async def _stored_rows(database: Database) -> list[str]:
    """Every row of every table, as text."""
    rows: list[str] = []
    async with database.session() as session:
        for table in Base.metadata.sorted_tables:
            rows += [repr(tuple(row)) for row in (await session.execute(select(table))).all()]
    return rows


async def _until_analysed(http: httpx.AsyncClient, call_sid: str) -> dict[str, Any]:
    for _ in range(600):
        record: dict[str, Any] = (await http.get(f"/v1/calls/{call_sid}")).json()
        if record.get("analysis") and record.get("ended_reason"):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_sid} was never analysed")


async def test_a_card_and_an_email_said_on_a_call_are_nowhere_at_rest_nor_in_webhooks(
    stack: Stack, receiver: Receiver, tmp_path: Path
) -> None:
    api = stack.api
    tenant = api.tenant()
    setup = api.client(tenant.key)
    hook = setup.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["call.started", "call.ended", "transcript.final"]},
    )
    assert hook.status_code == 201, hook.text
    receiver.secrets.append(hook.json()["secret"])
    created = setup.post("/v1/agents", json=AGENT)
    assert created.status_code == 201, created.text
    number = create_number(setup, created.json()["id"])["number"]

    audio = await _caller_audio("my card number is four one one one")
    async with asyncio.timeout(120):
        call = await SimulatedCall.dial(api.base_url, to=number)
        async with call:
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_agent_done(timeout=30)
            await call.say(audio)
            # The flow reads the details back and says goodbye; the agent ends the call.
            for _ in range(600):
                if call.ended_at is not None:
                    break
                await asyncio.sleep(0.05)
    async with api.aclient(tenant.key) as http:
        record = await _until_analysed(http, call.call_sid)
    assert record["ended_reason"] == "agent-ended"

    # Deepgram was asked to redact the card itself; the fake recognised what was scripted.
    [listen] = stack.deepgram.listen_connections
    assert ("redact", "pci") in listen.query
    transcript = [(line["speaker"], line["text"]) for line in record["transcript"]]
    assert transcript == [
        ("agent", "Hello, this is the payments desk."),
        ("caller", "My card number is [CREDIT_CARD] and my email is [EMAIL]."),
        (
            "agent",
            "Thank you. I have My card number is [CREDIT_CARD] and my email is [EMAIL]. Goodbye.",
        ),
    ]
    assert record["turns"][0]["user_text"] == transcript[1][1]
    assert record["analysis"]["fields"]["details"] == (
        "My card number is [CREDIT_CARD] and my email is [EMAIL]"
    )

    ended = (await asyncio.to_thread(receiver.wait_for, 1, "call.ended"))[0]
    lines = receiver.wait_for(len(transcript), "transcript.final")
    assert [r.body["data"]["text"] for r in lines] == [text for _speaker, text in transcript]
    sent = json.dumps([r.body for r in receiver.accepted()])
    stored = await asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(_stored_rows(api.app.state.database), api.loop)
    )
    assert ended.body["data"]["transcript"] == record["transcript"]
    assert any("[CREDIT_CARD]" in row for row in stored)
    for trace in TRACES:
        assert trace not in sent, trace
        assert not [row for row in stored if trace in row], trace
