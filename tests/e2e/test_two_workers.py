"""``aybiza serve --workers 2``: a Twilio call whose webhook lands on one worker process and
whose media stream lands on the other is answered, converses and is recorded, on SQLite and on
PostgreSQL.

The two workers accept from one listening socket, so the kernel picks the worker of each
connection. The test sends the webhook on a kept-alive connection, reads from ``/proc`` which
worker holds it (``worker_sockets``), then opens media streams until one is held by the other
worker, and only then starts the call on it: every run crosses workers, none by luck.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.worker_sockets import worker_holding, worker_pids
from tests.api.databases import BACKENDS, create_database

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.simulator import webhook
from aybiza.simulator.twilio_client import SimulatedCall

from .server_process import RunningServer, running_server
from .test_voice_loop import record_when_ended, speech, turns

WORKERS = 2
# Attempts at a media stream held by the other worker; each lands on either worker.
STREAM_ATTEMPTS = 40


@pytest.fixture(params=BACKENDS)
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    database = create_database(request.param, tmp_path)
    try:
        env = {"AYBIZA_DATABASE_URL": database.url}
        # Two workers start side by side on a shared machine: allow them the time.
        with running_server(tmp_path, env, workers=WORKERS, start_timeout_s=300) as server:
            yield server
    finally:
        database.drop()


async def _held_by(server: RunningServer, client_port: int, workers: list[int]) -> int:
    """The worker holding the connection from ``client_port`` (accepting may take a moment)."""
    for _ in range(200):
        worker = worker_holding(server.port, client_port, workers)
        if worker is not None:
            return worker
        await asyncio.sleep(0.01)
    raise AssertionError(f"no worker of {workers} holds the connection from port {client_port}")


async def _every_worker_up(server: RunningServer) -> list[int]:
    """Both workers serve: ``/readyz`` answered by each, each time on a new connection."""
    ready: set[int] = set()
    workers: list[int] = []
    for _ in range(600):
        workers = worker_pids(server.pid)
        if len(workers) == WORKERS:
            async with httpx.AsyncClient(timeout=5) as probe:
                response = await probe.get(f"{server.base_url}/readyz")
                if response.status_code == 200:
                    stream = response.extensions["network_stream"]
                    port = stream.get_extra_info("client_addr")[1]
                    ready.add(await _held_by(server, port, workers))
            if ready == set(workers):
                return workers
        await asyncio.sleep(0.2)
    raise AssertionError(f"workers {workers} did not all answer (answered: {ready})")


async def _stream_on_other_worker(
    server: RunningServer,
    answer: webhook.TwimlAnswer,
    *,
    call_sid: str,
    account_sid: str,
    not_on: int,
    workers: list[int],
) -> tuple[SimulatedCall, int]:
    """The call's media stream opened (not yet started) on a worker other than ``not_on``."""
    assert answer.stream_url is not None
    for _ in range(STREAM_ATTEMPTS):
        call = await SimulatedCall.connect_stream(
            webhook.stream_connect_url(answer.stream_url, server.base_url),
            signed_url=answer.stream_url,
            custom_parameters=answer.custom_parameters,
            auth_token=server.auth_token,
            call_sid=call_sid,
            account_sid=account_sid,
            twiml=answer.twiml,
            send_start=False,
        )
        holder = await _held_by(server, call.local_port, workers)
        if holder != not_on:
            return call, holder
        await call.hangup()
    raise AssertionError(f"{STREAM_ATTEMPTS} streams all landed on worker {not_on}")


async def test_a_call_whose_webhook_and_stream_land_on_different_workers_is_answered(
    two_workers: RunningServer,
) -> None:
    server = two_workers
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(limits=limits, timeout=15) as http:
        workers = await _every_worker_up(server)
        # The webhook on a kept-alive connection: the worker holding it answered it.
        probe = await http.get(f"{server.base_url}/healthz")
        hook_port = probe.extensions["network_stream"].get_extra_info("client_addr")[1]
        hook_worker = await _held_by(server, hook_port, workers)
        call_sid, account_sid = webhook.new_call_sid(), webhook.new_account_sid()
        form = webhook.incoming_call_form(
            call_sid=call_sid, account_sid=account_sid, from_="+15551230001", to=DEMO_PHONE_NUMBER
        )
        answer = await webhook.post_incoming_call(
            server.base_url, form, auth_token=server.auth_token, client=http
        )
        again = await http.get(f"{server.base_url}/healthz")
        assert again.extensions["network_stream"].get_extra_info("client_addr")[1] == hook_port

        call, stream_worker = await _stream_on_other_worker(
            server,
            answer,
            call_sid=call_sid,
            account_sid=account_sid,
            not_on=hook_worker,
            workers=workers,
        )
        assert {hook_worker, stream_worker} == set(workers)
        async with call:
            await call.start_stream()
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_agent_done(timeout=30)
            await call.say(await speech("I would like to book an appointment"))
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_agent_done(timeout=30)
            assert not call.ended, call.end_problem

    record = await record_when_ended(server, call_sid, reason="caller-hangup")
    assert record["status"] == "completed"
    first = turns(record)[0]
    assert first["user_text"] == "i would like to book an appointment"
    assert "day and time" in str(first["agent_text"])
    transcript = record["transcript"]
    assert isinstance(transcript, list)
    assert [line["speaker"] for line in transcript][:3] == ["agent", "caller", "agent"]
