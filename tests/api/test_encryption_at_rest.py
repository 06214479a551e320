"""A whole call to an agent that does not redact: the caller (a number of their own) reads a
card number and an email over a Twilio media stream, Deepgram (the faithful fake, through the
real adapter) recognises them, the agent's flow reads them back, the post-call analysis and a
webhook carry them. The API gives the tenant all of it in plain text, yet the database holds
none of it: every column of every table read raw (no model types), and on SQLite the database
files' bytes themselves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.api.carrier import BackgroundLoop
from tests.api.conftest import ApiServer, serve_api
from tests.api.databases import BACKENDS
from tests.api.helpers import create_number
from tests.api.receiver import Receiver
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.config import Settings
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.store.database import Database
from aybiza.store.migrate import load_models

CARD = "4111 1111 1111 1111"
CALLER = "+14155550187"
CALLER_LINE = f"My card number is {CARD} and my email is john dot smith at example dot com."
# What must be nowhere at rest: the card however grouped, the mailbox, its domain, the caller.
TRACES = ("4111 1111", "4111111111111111", "john", "smith", "example dot com", CALLER, "4155550187")

AGENT: dict[str, Any] = {
    "name": "Payments desk",
    "system_prompt": "Take the caller's card and email.",
    "greeting": "Hello, this is the payments desk.",
    "engines": {"stt": "deepgram", "tts": "espeak", "llm": "flow"},
    "automation": {"tools_enabled": False, "async_workflows": True},
    "analysis": {"fields": {"details": "the card and email the caller gave"}},
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


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A server (its master key a key file in its data directory) whose recogniser is the
    fake Deepgram."""
    background = BackgroundLoop()
    deepgram = FakeDeepgram(transcripts=[CALLER_LINE])
    background.run(deepgram.start())

    def with_deepgram(settings: Settings, _base_url: str) -> Settings:
        return replace(settings, deepgram_api_key=FAKE_API_KEY, deepgram_url=deepgram.url)

    try:
        data_dir = tmp_path_factory.mktemp(f"at-rest-{request.param}")
        with serve_api(request.param, data_dir, with_deepgram) as api:
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


async def _caller_audio(words: str) -> bytes:
    tts = EspeakTts()
    try:
        return (
            silence(200) + await tts.synthesize(words, VoiceOptions(model="en-us")) + silence(800)
        )
    finally:
        await tts.aclose()


async def _raw_rows(database: Database) -> list[str]:
    """Every column of every row of every table, as the database returns it (plain SQL: no
    model type opens anything)."""
    rows: list[str] = []
    async with database.engine.connect() as connection:
        for table in load_models().sorted_tables:
            result = await connection.execute(text(f'SELECT * FROM "{table.name}"'))
            rows += [repr(tuple(row)) for row in result.all()]
    return rows


async def _until_analysed(http: httpx.AsyncClient, call_sid: str) -> dict[str, Any]:
    for _ in range(600):
        record: dict[str, Any] = (await http.get(f"/v1/calls/{call_sid}")).json()
        if record.get("analysis") and record.get("ended_reason"):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_sid} was never analysed")


async def test_a_card_an_email_and_the_caller_s_number_leave_no_trace_at_rest(
    stack: Stack, receiver: Receiver
) -> None:
    api = stack.api
    tenant = api.tenant()
    setup = api.client(tenant.key)
    hook = setup.post("/v1/webhooks", json={"url": receiver.url, "events": ["call.ended"]})
    assert hook.status_code == 201, hook.text
    receiver.secrets.append(hook.json()["secret"])
    created = setup.post("/v1/agents", json=AGENT)
    assert created.status_code == 201, created.text
    number = create_number(setup, created.json()["id"])["number"]

    audio = await _caller_audio("my card number is four one one one")
    async with asyncio.timeout(120):
        call = await SimulatedCall.dial(api.base_url, to=number, from_=CALLER)
        async with call:
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_agent_done(timeout=30)
            await call.say(audio)
            for _ in range(600):
                if call.ended_at is not None:
                    break
                await asyncio.sleep(0.05)
    async with api.aclient(tenant.key) as http:
        record = await _until_analysed(http, call.call_sid)
        # The tenant finds the call by the caller's number (its blind index).
        found = (await http.get("/v1/calls", params={"number": CALLER})).json()
    assert record["ended_reason"] == "agent-ended"
    assert [item["id"] for item in found["data"]] == [record["id"]]

    # Authorised readers get everything back in plain text.
    assert record["from"] == CALLER
    assert [line["text"] for line in record["transcript"]][1] == CALLER_LINE
    assert CARD in record["turns"][0]["user_text"]
    assert CARD in record["analysis"]["fields"]["details"]
    ended = (await asyncio.to_thread(receiver.wait_for, 1, "call.ended"))[0]
    assert ended.body["data"]["transcript"] == record["transcript"]

    stored = await asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(_raw_rows(api.app.state.database), api.loop)
    )
    assert any("sealed:" in row for row in stored)
    for trace in TRACES:
        assert not [row for row in stored if trace in row], trace
    if api.backend == "sqlite":
        files = b"".join(path.read_bytes() for path in api.data_dir.glob("api.db*"))
        for trace in TRACES:
            assert trace.encode() not in files, trace
