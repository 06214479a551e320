"""Two regions behind the voice-router (issue 16, item 2): two ``aybiza serve`` processes
started as ``us-east-1`` and ``us-west-2``, the voice-router Worker in workerd in front of them
(``wrangler dev``, loopback only), calls placed through the router as Twilio places them (the
signed webhook, then the media stream the TwiML names). One region is stopped with SIGTERM,
then ``kill -9``: new calls go to the other region, the live call on the draining region
finishes there, and every call's record is written."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.twilio_client import SimulatedCall

from .edge_router import Region, RunningRouter, require_edge, running_router
from .server_process import AUTH_TOKEN, RunningServer, free_port, running_server

EDGE_SECRET = "e2e-edge-secret"
# Short, so the test is quick: a region is checked every half second.
HEALTH_INTERVAL_MS = 500
HEALTH_TIMEOUT_MS = 1000


def _route_fallback(server: RunningServer, fallback: str) -> None:
    """Give the demo number a fallback region (the origin's API, as an operator would)."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    listed = httpx.get(f"{server.base_url}/v1/phone-numbers", headers=headers, timeout=5)
    assert listed.status_code == 200, listed.text
    numbers = listed.json()
    number = next(n for n in numbers["data"] if n["number"] == DEMO_PHONE_NUMBER)
    response = httpx.patch(
        f"{server.base_url}/v1/phone-numbers/{number['id']}",
        json={"fallback_region": fallback},
        headers=headers,
        timeout=5,
    )
    response.raise_for_status()


def _region_of(call: SimulatedCall) -> str:
    """The region the router gave the call: its TwiML's stream URL names it."""
    match = re.search(r"/regions/([a-z0-9-]+)/twilio/stream", call.twiml)
    assert match is not None, call.twiml
    return match.group(1)


async def _greeted_call(router: RunningRouter) -> SimulatedCall:
    call = await SimulatedCall.dial(router.base_url, to=DEMO_PHONE_NUMBER, auth_token=AUTH_TOKEN)
    await call.wait_for_agent_audio(timeout=20)
    return call


async def _record(server: RunningServer, call_sid: str) -> dict[str, object]:
    """The call's record once its end was written."""
    for _ in range(200):
        record = await server.call_record(call_sid)
        if record["ended_reason"] is not None:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_sid} never ended: {record}")


def _rows(database: Path, call_sid: str) -> tuple[str, str | None, int]:
    """A stopped region's record of a call, read from its database file."""
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT id, status, ended_reason FROM calls WHERE call_sid = ?", (call_sid,)
        ).fetchone()
        assert row is not None, f"{call_sid} has no record in {database}"
        turns = db.execute("SELECT COUNT(*) FROM turns WHERE call_id = ?", (row[0],)).fetchone()
    return row[1], row[2], int(turns[0])


async def _wait_out(router: RunningRouter, region: str, timeout_s: float) -> float:
    """Seconds until the router's health shows ``region`` out."""
    started = time.monotonic()
    with httpx.Client(trust_env=False) as probe:
        while time.monotonic() - started < timeout_s:
            if not router.health(probe)["regions"][region]["healthy"]:
                return time.monotonic() - started
            await asyncio.sleep(0.02)
    raise AssertionError(f"the router still counts {region} healthy after {timeout_s} s")


async def test_new_calls_fail_over_and_the_draining_regions_call_finishes(
    tmp_path: Path,
) -> None:
    require_edge()
    router_port = free_port()
    common = {
        # Twilio reaches every region through the router: its URL is the one Twilio signs.
        "AYBIZA_PUBLIC_URL": f"http://127.0.0.1:{router_port}",
        "AYBIZA_EDGE_SECRET": EDGE_SECRET,
        "AYBIZA_CAPACITY_CALLS": "10",
        "AYBIZA_DRAIN_S": "60",
    }
    speech = silence(200) + await EspeakTts().synthesize(
        "I would like to book an appointment", VoiceOptions(model="en-us")
    )
    with ExitStack() as stack:
        dirs = {name: tmp_path / name for name in ("us-east-1", "us-west-2")}
        for path in dirs.values():
            path.mkdir()
        east = stack.enter_context(
            running_server(dirs["us-east-1"], {**common, "AYBIZA_REGION": "us-east-1"})
        )
        west = stack.enter_context(
            running_server(dirs["us-west-2"], {**common, "AYBIZA_REGION": "us-west-2"})
        )
        for server in (east, west):
            _route_fallback(server, "us-west-2")
        router = stack.enter_context(
            running_router(
                [Region("us-east-1", east.base_url), Region("us-west-2", west.base_url)],
                port=router_port,
                secret=EDGE_SECRET,
                state_dir=tmp_path / "router",
                health_interval_ms=HEALTH_INTERVAL_MS,
                health_timeout_ms=HEALTH_TIMEOUT_MS,
                numbers_sync_ms=500,
                numbers=1,
            )
        )
        async with httpx.AsyncClient(timeout=5) as client:
            readyz = (await client.get(f"{east.base_url}/readyz")).json()
        assert readyz["region"] == "us-east-1"
        assert readyz["load"] == {"live_calls": 0, "capacity": 10, "ratio": 0.0}

        # The number's home region takes its call.
        live = await _greeted_call(router)
        assert _region_of(live) == "us-east-1"
        await live.wait_until_agent_done(timeout=20)

        # SIGTERM: the home region drains. A call placed at once is refused there (503) and
        # the router offers it to the fallback region in the same request.
        stopped_at = time.monotonic()
        os.kill(east.pid, signal.SIGTERM)
        at_once = await _greeted_call(router)
        assert _region_of(at_once) == "us-west-2"
        await at_once.hangup()

        # Within a health interval or so the router counts the region out; new calls then go
        # straight to the fallback region.
        noticed_s = await _wait_out(router, "us-east-1", timeout_s=30)
        print(f"\nrouter counted us-east-1 out {noticed_s * 1000:.0f} ms after it began draining")
        east_state = router.health()["regions"]["us-east-1"]
        # Counted out by its health check or, if the refused call above came first, by the
        # forwarding that met the 503: either way, for the draining region's 503.
        refused = {"/readyz answered 503 (not ready)", "forwarding: answered 503"}
        assert east_state["error"] in refused
        after = await _greeted_call(router)
        assert _region_of(after) == "us-west-2"
        await after.hangup()

        # The live call goes on in the draining region: the caller speaks, the agent answers.
        heard = len(live.played_audio)
        await live.say(speech)
        await live.wait_for_agent_audio(timeout=20)
        await live.wait_until_agent_done(timeout=20)
        assert len(live.played_audio) > heard
        await live.hangup()

        # Then the region is killed outright; calls still go to the other one.
        for _ in range(100):
            if not _alive(east.pid):
                break
            await asyncio.sleep(0.1)
        how = "exited once its last call ended"
        if _alive(east.pid):
            os.kill(east.pid, signal.SIGKILL)
            how = "killed with SIGKILL"
        print(f"us-east-1 {how}, {time.monotonic() - stopped_at:.1f} s after SIGTERM")
        crashed = await _greeted_call(router)
        assert _region_of(crashed) == "us-west-2"
        await crashed.hangup()

        # Nothing lost: the draining region wrote its call's end and turn before it stopped,
        # the other region has every call it took.
        status, reason, turns = _rows(dirs["us-east-1"] / "aybiza.db", live.call_sid)
        assert (status, reason, turns) == ("completed", "caller-hangup", 1)
        for call in (at_once, after, crashed):
            record = await _record(west, call.call_sid)
            assert record["status"] == "completed"
            assert record["ended_reason"] == "caller-hangup"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not yet reaped still has its pid.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][0] != "Z"
