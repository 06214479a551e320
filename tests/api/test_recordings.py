"""Recordings on a phone call: a call over Twilio Media Streams (the simulator speaking the real
protocol) to an agent that records is stored as a stereo WAV, the caller's speech on the left,
the agent's greeting and answer on the right; the same agent with recording off stores none.
(Browser calls are recorded the same way: tests/telephony/browser.)"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from tests.api.conftest import ApiServer, serve_api
from tests.api.helpers import create_number, demo_agent_body

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.twilio_client import SimulatedCall


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with serve_api("sqlite", tmp_path_factory.mktemp("recordings")) as running:
        yield running


async def call_agent(api: ApiServer, recording: bool) -> tuple[dict[str, Any], bytes | int]:
    """One Twilio call to a fresh agent without a greeting: with ``recording`` on, one caller
    sentence and the first second of the answer; off, an immediate hang-up. Returns the call
    record and the recording (or the status of its request)."""
    tenant = api.tenant()
    setup = api.client(tenant.key)
    # No greeting: the caller speaks first (the simulator plays in real time).
    body = demo_agent_body(greeting="", recording={"enabled": recording})
    agent = await asyncio.to_thread(setup.post, "/v1/agents", json=body)
    number = create_number(setup, agent.json()["id"])["number"]
    sentence = silence(300) + await EspeakTts().synthesize(
        "I would like to book an appointment", VoiceOptions("en-us")
    )
    async with asyncio.timeout(90):
        call = await SimulatedCall.dial(api.base_url, to=number)
        async with call:
            if recording:
                await call.say(sentence)
                await call.wait_for_agent_audio(timeout=30)
                await asyncio.sleep(1)
    async with api.aclient(tenant.key) as http:
        for _ in range(200):
            record: dict[str, Any] = (await http.get(f"/v1/calls/{call.call_sid}")).json()
            if record["ended_at"] and (record["recording"] or not recording):
                break
            await asyncio.sleep(0.05)
        audio = await http.get(f"/v1/calls/{record['id']}/recording")
    return record, audio.content if audio.status_code == 200 else audio.status_code


async def test_a_twilio_call_of_a_recording_agent_is_stored_in_stereo(api: ApiServer) -> None:
    record, audio = await call_agent(api, recording=True)
    assert record["carrier"] == "twilio"
    assert isinstance(audio, bytes)
    with wave.open(io.BytesIO(audio)) as reader:
        assert (reader.getnchannels(), reader.getframerate(), reader.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
    assert abs(len(frames) / 8000 - record["recording"]["duration_s"]) < 0.01
    # At rest the store holds the envelope under the tenant's data key, not the WAV.
    stored = next((api.data_dir / "recordings").rglob(f"{record['id']}.wav")).read_bytes()
    assert record["recording"]["sealed"] is True
    assert not stored.startswith(b"RIFF") and audio[44:2044] not in stored
    caller, agent = np.abs(frames[:, 0]), np.abs(frames[:, 1])
    # The caller speaks while the agent is silent; the answer follows on the right.
    spoke = np.flatnonzero(caller > 1000)
    assert len(spoke) > 0 and agent[: spoke[-1]].max() < 1000
    assert agent[spoke[-1] :].max() > 1000, "the answer follows the caller's sentence"
    assert caller[spoke[-1] + 800 :].max() < 1000


async def test_an_agent_with_recording_off_stores_no_recording(api: ApiServer) -> None:
    record, audio = await call_agent(api, recording=False)
    assert record["carrier"] == "twilio" and record["recording"] is None
    assert audio == 404
