"""A recorded call on its page: the player of ``GET /v1/calls/{id}/recording`` and the
waveform drawn by the server from that WAV (caller above, agent below), for roles holding
``recordings:read``; the analyst sees that a recording exists but gets neither."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

from tests.api.conftest import ApiServer
from tests.api.helpers import create_number, demo_agent_body
from tests.dashboard.pages import browser, person

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.twilio_client import SimulatedCall


async def _recorded_call(site: ApiServer, key: str, number: str) -> str:
    sentence = silence(300) + await EspeakTts().synthesize(
        "I would like to book an appointment", VoiceOptions("en-us")
    )
    async with asyncio.timeout(90):
        call = await SimulatedCall.dial(site.base_url, to=number)
        async with call:
            await call.say(sentence)
            await call.wait_for_agent_audio(timeout=30)
            await asyncio.sleep(1)
    async with site.aclient(key) as http:
        for _ in range(300):
            record: dict[str, Any] = (await http.get(f"/v1/calls/{call.call_sid}")).json()
            if record["ended_at"] and record["recording"]:
                return str(record["id"])
            await asyncio.sleep(0.05)
    raise AssertionError("the recording was never stored")


def test_a_recorded_call_shows_its_player_and_waveform(site: ApiServer) -> None:
    tenant = site.tenant()
    setup = site.client(tenant.key)
    agent = setup.post("/v1/agents", json=demo_agent_body(greeting="", recording={"enabled": True}))
    assert agent.status_code == 201, agent.text
    number = create_number(setup, agent.json()["id"])["number"]
    call_id = site.run(_recorded_call(site, tenant.key, number), timeout=120)
    client = browser(site, person(site, tenant, "developer"))
    page = client.get(f"/calls/{call_id}")
    assert f'<audio controls preload="none" src="/v1/calls/{call_id}/recording"' in page.text
    assert f'src="/calls/{call_id}/waveform.svg"' in page.text
    drawn = client.get(f"/calls/{call_id}/waveform.svg")
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/svg+xml"
    svg = ET.fromstring(drawn.text)
    caller, agent_path = (p.get("d", "") for p in svg.iter("{http://www.w3.org/2000/svg}path"))
    # Both channels carry sound: some columns reach well away from the middle line (y = 60),
    # the caller's up, the agent's down.
    assert min(_tops(caller)) < 50 and max(_bottoms(agent_path)) > 70
    analyst = browser(site, person(site, tenant, "analyst"))
    shown = analyst.get(f"/calls/{call_id}")
    assert "<audio" not in shown.text and "recordings:read" in shown.text
    assert analyst.get(f"/calls/{call_id}/waveform.svg").status_code == 403


def _tops(path: str) -> list[float]:
    """The y each column starts at (``M x y V end``): the caller's peaks."""
    return [float(segment.split("V")[0].split()[1]) for segment in path.split("M")[1:]]


def _bottoms(path: str) -> list[float]:
    """The y each column ends at: the agent's peaks."""
    return [float(segment.split("V")[1]) for segment in path.split("M")[1:]]
