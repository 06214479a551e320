"""Hardening item 11 over the wire: Deepgram unreachable when a call starts (its URL refuses
every connection). The caller is greeted, the embedded recogniser hears them, and the call record
says which engine ran and why; the cost follows the engine that ran."""

from __future__ import annotations

from pathlib import Path

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.simulator.twilio_client import SimulatedCall

from .server_process import free_port, running_server
from .test_voice_loop import record_when_ended, speech


async def test_item11_deepgram_unreachable_at_the_start_the_embedded_recogniser_takes_over(
    tmp_path: Path,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"DEEPGRAM_API_KEY": "dg-test-key", "AYBIZA_DEEPGRAM_URL": closed}
    with running_server(tmp_path, env) as server:
        call = await SimulatedCall.dial(
            server.base_url, to=DEMO_PHONE_NUMBER, auth_token=server.auth_token
        )
        async with call:
            await call.wait_for_agent_audio(timeout=15)
            await call.wait_until_agent_done(timeout=20)
            await call.say(await speech("I would like to book an appointment"))
            await call.wait_for_agent_audio(timeout=15)
            await call.wait_until_agent_done(timeout=20)
        record = await record_when_ended(server, call.call_sid, reason="caller-hangup")
    engines = record["engines"]
    assert isinstance(engines, dict)
    assert engines["stt"] == "pocketsphinx"
    assert str(engines["stt_fallback"]).startswith("deepgram -> pocketsphinx (deepgram:")
    lines = record["transcript"]
    assert isinstance(lines, list)
    assert [line["speaker"] for line in lines][:3] == ["agent", "caller", "agent"]
    cost = record["cost"]
    assert isinstance(cost, dict)
    assert cost["engines"]["stt"] == "pocketsphinx" and cost["stt"] == 0
