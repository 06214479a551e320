"""Media Streams read below ASGI (``direct_websocket.py``) on a real ``aybiza serve``: a raw
WebSocket client sends Twilio's messages faster than real time, or drops the connection, and
the call record shows what the server read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from websockets.asyncio.client import ClientConnection, connect

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.audio.codec import FRAME_BYTES
from aybiza.simulator import webhook, wire

from .conftest import RunningServer
from .test_voice_loop import record_when_ended

_QUIET = b"\xff" * FRAME_BYTES  # μ-law silence


class RawCall:
    """A Twilio call whose every message the test writes itself."""

    def __init__(self, ws: ClientConnection, call_sid: str, account_sid: str) -> None:
        self.ws = ws
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.stream_sid = webhook.new_stream_sid()
        self._sequence = 0

    async def send(self, event: str, body: dict[str, object]) -> None:
        self._sequence += 1
        await self.ws.send(wire.encode(event, self._sequence, self.stream_sid, body))

    async def start(self) -> None:
        await self.ws.send(wire.connected())
        await self.send(
            "start",
            wire.start_body(
                stream_sid=self.stream_sid,
                account_sid=self.account_sid,
                call_sid=self.call_sid,
                custom_parameters={},
            ),
        )

    async def stop(self) -> None:
        await self.send(
            "stop", wire.stop_body(account_sid=self.account_sid, call_sid=self.call_sid)
        )

    async def media(self, count: int) -> None:
        for n in range(count):
            await self.send("media", wire.media_body(chunk=n, timestamp_ms=20 * n, payload=_QUIET))


@asynccontextmanager
async def raw_call(server: RunningServer) -> AsyncIterator[RawCall]:
    call_sid, account_sid = webhook.new_call_sid(), webhook.new_account_sid()
    form = webhook.incoming_call_form(
        call_sid=call_sid, account_sid=account_sid, from_="+15550001111", to=DEMO_PHONE_NUMBER
    )
    answer = await webhook.post_incoming_call(server.base_url, form, auth_token=server.auth_token)
    assert answer.stream_url is not None
    url = webhook.stream_connect_url(answer.stream_url, server.base_url)
    headers = {"X-Twilio-Signature": webhook.sign(server.auth_token, answer.stream_url)}
    async with connect(url, additional_headers=headers, compression=None) as ws:
        yield RawCall(ws, call_sid, account_sid)


async def test_a_burst_of_frames_is_read_whole_and_in_order_then_stop_ends_the_call(
    server: RunningServer,
) -> None:
    async with raw_call(server) as call:
        await call.start()
        await call.media(150)
        await call.ws.send("not json")  # counted in the stream's order, between the frames
        await call.media(150)
        await call.stop()
        await asyncio.wait_for(call.ws.wait_closed(), 20)
    record = await record_when_ended(server, call.call_sid)
    assert record["ended_reason"] == "caller-hangup"
    stats = record["stats"]
    assert isinstance(stats, dict)
    assert stats["frames_in"] == 300
    assert stats["malformed_messages"] == 1


async def test_a_connection_dropped_without_stop_ends_the_call_as_stream_closed(
    server: RunningServer,
) -> None:
    async with raw_call(server) as call:
        await call.start()
        await call.media(50)
        await asyncio.sleep(0.3)
        call.ws.transport.abort()  # the TCP connection goes: no stop, no close frame
    record = await record_when_ended(server, call.call_sid)
    assert record["ended_reason"] == "stream-closed"
    stats = record["stats"]
    assert isinstance(stats, dict)
    assert stats["frames_in"] == 50
