"""The demo agent's stack for the end-to-end tests: a real server, the tenant's booking
service (an HTTP tool that checks the platform's signature) and the fake Twilio REST API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from tests.fakes.twilio_rest import DEFAULT_ACCOUNT_SID, FakeTwilio

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.twilio_client import SimulatedCall

from .server_process import AUTH_TOKEN, RunningServer, running_server


@dataclass
class BookingService:
    """The tenant's booking endpoint: checks the platform's signature with its own lines."""

    secret: str = ""
    bookings: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    # Set to a 5xx status to play a booking system that is down.
    failing_status: int | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get("AYBIZA-Signature", "")
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        timestamp = parts.get("t", "0")
        expected = hmac.new(
            self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        fresh = abs(time.time() - int(timestamp)) < 300
        if not (fresh and hmac.compare_digest(expected, parts.get("v1", ""))):
            self.refused += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if self.failing_status is not None:
            return web.json_response({"error": "calendar unavailable"}, status=self.failing_status)
        self.bookings.append(json.loads(body))
        return web.json_response({"booked": True, "reference": "ACME-1234"})


@dataclass
class Stack:
    server: RunningServer
    bookings: BookingService
    twilio: FakeTwilio
    tool_id: str


@asynccontextmanager
async def demo_stack(
    tmp_path: Path, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Stack]:
    """A server (with ``extra_env``) whose demo agent books through a tenant HTTP tool on
    this machine and texts through the fake Twilio; stopped on exit."""
    bookings = BookingService()
    app = web.Application()
    app.router.add_post("/bookings", bookings.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with FakeTwilio({DEFAULT_ACCOUNT_SID: AUTH_TOKEN}) as twilio:
        # The platform's account owns the demo number (Twilio only texts from owned numbers).
        twilio.add_number(DEFAULT_ACCOUNT_SID, DEMO_PHONE_NUMBER)
        env = {
            # The booking service is on this machine: the operator allows loopback.
            "AYBIZA_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8,::1/128",
            "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "AYBIZA_TWILIO_API_URL": twilio.url,
            **(extra_env or {}),
        }
        server_cm = running_server(tmp_path, env)
        server = await asyncio.to_thread(server_cm.__enter__)
        try:
            async with httpx.AsyncClient(
                base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"}
            ) as client:
                tool = await client.post(
                    "/v1/tools",
                    json={
                        "name": "book_appointment",
                        "description": "Book an appointment at ACME.",
                        "parameters": {
                            "type": "object",
                            "properties": {"when": {"type": "string"}},
                            "required": ["when"],
                        },
                        "options": {"url": f"http://127.0.0.1:{port}/bookings"},
                    },
                )
                assert tool.status_code == 201, tool.text
                bookings.secret = tool.json()["secret"]
            yield Stack(server, bookings, twilio, tool.json()["id"])
        finally:
            await asyncio.to_thread(server_cm.__exit__, None, None, None)
            await runner.cleanup()


async def spoken(text: str) -> bytes:
    tts = EspeakTts()
    try:
        return silence(200) + await tts.synthesize(text, VoiceOptions(model="en-us"))
    finally:
        await tts.aclose()


async def book_then_ask_for_a_person(stack: Stack) -> dict[str, Any]:
    """A demo call that asks to book for tomorrow morning, then presses 0 for a person; the
    call record once its analysis is stored."""
    call = await SimulatedCall.dial(
        stack.server.base_url,
        to=DEMO_PHONE_NUMBER,
        auth_token=stack.server.auth_token,
        account_sid=DEFAULT_ACCOUNT_SID,  # Twilio sends the number's own account
    )
    async with call:
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=30)
        for line in ("I would like to book an appointment", "tomorrow morning"):
            await call.say(await spoken(line))
            await call.wait_for_agent_audio(timeout=15)
            await call.wait_until_agent_done(timeout=30)
        await call.send_dtmf("0")
        await call.wait_until_ended(timeout=30)
    record: dict[str, Any] = {}
    for _ in range(200):
        record = await stack.server.call_record(call.call_sid)
        if record.get("analysis"):
            break
        await asyncio.sleep(0.1)
    return record
