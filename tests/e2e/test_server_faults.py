"""Hardening items 7 and 8: nothing is lost when a server dies or is told to stop.

Item 7: a server killed with ``kill -9`` leaves its calls ``in-progress``; the next server (at
its start) or another server already running ends them as ``server-lost`` once their lease runs
out, freeing the tenant's concurrency slots. Item 8: on ``SIGTERM`` a server stops taking calls
(``/readyz`` 503, new calls 503), lets its live calls go on, ends the rest as
``server-shutdown`` after ``AYBIZA_DRAIN_S`` and exits cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.simulator.webhook import incoming_call_form, new_account_sid, new_call_sid, sign

from .server_process import RunningServer, running_server

SHORT_LEASE = {"AYBIZA_CALL_LEASE_S": "1"}
CLEAN_EXIT = (0, -signal.SIGTERM)


def _row(data_dir: Path, call_sid: str) -> tuple[str, str | None]:
    """The call's status and ended reason, read from the database file itself."""
    with contextlib.closing(sqlite3.connect(data_dir / "aybiza.db")) as db:
        row = db.execute(
            "select status, ended_reason from calls where call_sid = ?", (call_sid,)
        ).fetchone()
    assert row is not None, f"no call {call_sid}"
    return str(row[0]), row[1]


async def _live_call(server: RunningServer) -> SimulatedCall:
    call = await SimulatedCall.dial(
        server.base_url, to=DEMO_PHONE_NUMBER, auth_token=server.auth_token
    )
    await call.wait_for_agent_audio(timeout=15)
    return call


async def _ended_as(server: RunningServer, call_sid: str, reason: str) -> dict[str, object]:
    record: dict[str, object] = {}
    for _ in range(600):
        record = await server.call_record(call_sid)
        if record["ended_reason"] == reason:
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_sid} was not ended as {reason}: {record}")


async def _kill(call: SimulatedCall, server: RunningServer) -> None:
    os.kill(server.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        await call.wait_until_ended(timeout=10)


async def test_item7_a_restarted_server_ends_the_calls_of_its_killed_self(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, SHORT_LEASE) as first:
        call = await _live_call(first)
        await _kill(call, first)
    assert _row(tmp_path, call.call_sid) == ("in-progress", None)
    with running_server(tmp_path, SHORT_LEASE) as second:
        record = await _ended_as(second, call.call_sid, "server-lost")
    assert record["status"] == "completed" and record["ended_at"] is not None


async def test_item7_a_running_server_ends_the_calls_of_another_that_died(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, SHORT_LEASE) as survivor:
        with running_server(tmp_path, SHORT_LEASE) as doomed:
            call = await _live_call(doomed)
            await _kill(call, doomed)
        record = await _ended_as(survivor, call.call_sid, "server-lost")
        assert record["status"] == "completed"


def _exit_code(pid: int, timeout_s: float) -> int | None:
    """Wait for the server process (a child of this one) to exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


async def test_item8_sigterm_stops_new_calls_and_ends_live_ones_after_the_drain(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, {"AYBIZA_DRAIN_S": "3"}) as server:
        call = await _live_call(server)
        os.kill(server.pid, signal.SIGTERM)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            for _ in range(50):
                if (await http.get("/readyz")).status_code == 503:
                    break
                await asyncio.sleep(0.05)
            ready = await http.get("/readyz")
            url = f"{server.base_url}/twilio/voice"
            form = incoming_call_form(
                call_sid=new_call_sid(),
                account_sid=new_account_sid(),
                from_="+15558675310",
                to=DEMO_PHONE_NUMBER,
            )
            headers = {"X-Twilio-Signature": sign(server.auth_token, url, form)}
            refused = await http.post("/twilio/voice", data=form, headers=headers)
        assert ready.status_code == 503 and ready.json()["draining"] is True
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        # The live call goes on during the drain, then the server ends it and exits.
        assert not call.ended
        code = await asyncio.to_thread(_exit_code, server.pid, 30)
        with contextlib.suppress(Exception):
            await call.wait_until_ended(timeout=5)
    # uvicorn re-raises the signal it was stopped with once it has shut down cleanly.
    assert code in CLEAN_EXIT
    assert _row(tmp_path, call.call_sid) == ("completed", "server-shutdown")
    assert call.ended


async def test_item8_a_drain_ends_as_soon_as_the_last_call_does(tmp_path: Path) -> None:
    with running_server(tmp_path, {"AYBIZA_DRAIN_S": "600"}) as server:
        call = await _live_call(server)
        os.kill(server.pid, signal.SIGTERM)
        await asyncio.sleep(0.3)
        await call.hangup()
        code = await asyncio.to_thread(_exit_code, server.pid, 30)
    assert code in CLEAN_EXIT, "the server exited long before its 600 s drain"
    assert _row(tmp_path, call.call_sid) == ("completed", "caller-hangup")
