"""Hardening item 10: one call never runs two call loops. A second ``start`` on a stream, or a
second Media Streams connection for a call whose loop runs, is refused and noted on the call."""

from __future__ import annotations

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.simulator import wire
from aybiza.simulator.twilio_client import SimulatedCall

from .conftest import RunningServer
from .test_voice_loop import record_when_ended


async def _dial(server: RunningServer) -> SimulatedCall:
    return await SimulatedCall.dial(
        server.base_url, to=DEMO_PHONE_NUMBER, auth_token=server.auth_token
    )


async def test_item10_a_second_media_connection_for_a_live_call_is_refused(
    server: RunningServer,
) -> None:
    call = await _dial(server)
    async with call:
        await call.wait_for_agent_audio(timeout=15)
        ws_url = server.base_url.replace("http://", "ws://") + "/twilio/stream"
        second = await SimulatedCall.connect_stream(
            ws_url, auth_token=server.auth_token, call_sid=call.call_sid
        )
        async with second:
            await second.wait_until_ended(timeout=10)
        assert second.close_code == 1008
        assert second.close_reason and "already has a media connection" in second.close_reason
        # The first stream still has its agent.
        await call.wait_until_agent_done(timeout=20)
    record = await record_when_ended(server, call.call_sid, reason="caller-hangup")
    stats = record["stats"]
    assert isinstance(stats, dict)
    assert any("second media connection" in w for w in stats["protocol_warnings"]), stats


async def test_item10_a_second_start_on_one_stream_is_ignored_and_noted(
    server: RunningServer,
) -> None:
    call = await _dial(server)
    async with call:
        await call.wait_for_agent_audio(timeout=15)
        again = wire.start_body(
            stream_sid="MZ" + "1" * 32,
            account_sid=call.account_sid,
            call_sid=call.call_sid,
            custom_parameters={},
        )
        await call.send_raw(wire.encode("start", 99_999, call.stream_sid, again))
        await call.wait_until_agent_done(timeout=20)
    record = await record_when_ended(server, call.call_sid, reason="caller-hangup")
    stats = record["stats"]
    assert isinstance(stats, dict)
    assert stats["protocol_warnings"] == [f"a second start message (MZ{'1' * 32}) was ignored"]
    # One loop: the greeting was spoken once.
    lines = record["transcript"]
    assert isinstance(lines, list)
    assert [line["speaker"] for line in lines] == ["agent"], lines
