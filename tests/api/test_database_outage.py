"""The real app through a PostgreSQL outage (issue 11, item 9): ``/readyz`` answers 503 naming
the database while it is unreachable and 200 once it is back; a live call keeps talking through
the outage and nothing it said is lost. The database is cut with a loopback proxy between the
app and the shared PostgreSQL server, which is never stopped."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy.engine import make_url
from tests.api.conftest import OPERATOR_KEY, ApiServer, serve_api
from tests.api.databases import PG_ENV
from tests.fakes.tcp_proxy import Outage, TcpProxy

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.config import Settings
from aybiza.simulator.twilio_client import SimulatedCall

pytestmark = pytest.mark.skipif(
    not os.environ.get(PG_ENV),
    reason=f"needs PostgreSQL: set {PG_ENV}=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    " (as .ci/run does)",
)


@pytest.fixture(scope="module", autouse=True)
def plain_tracebacks() -> Iterator[None]:
    """Log tracebacks as ``aybiza serve`` does, in plain text. The pollers that find the
    database gone log one each; structlog's default (rich) renderer takes seconds to draw one,
    on the server's own loop, and would stall the live call this module tests."""
    previous = structlog.get_config()
    structlog.configure(
        processors=[
            *previous["processors"][:-1],
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
        ],
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**previous)


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, TcpProxy]]:
    """The app on a scratch PostgreSQL database that it reaches only through a proxy, probing
    the database five times a second."""
    server = make_url(os.environ[PG_ENV])
    with TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy:

        def through_proxy(settings: Settings, _base_url: str) -> Settings:
            url = proxy.route(settings.database_url)
            return replace(settings, database_url=url, database_probe_s=0.2)

        data_dir = tmp_path_factory.mktemp("outage")
        with serve_api("postgresql", data_dir, through_proxy) as api:
            yield api, proxy


async def _readiness(http: httpx.AsyncClient, status: int) -> dict[str, Any]:
    """``/readyz`` once it answers ``status`` (the probe runs every 0.2 s; a minute at most)."""
    for _ in range(600):
        response = await http.get("/readyz")
        if response.status_code == status:
            body: dict[str, Any] = response.json()
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"/readyz never answered {status}: {response.text}")


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def test_item9_readyz_answers_503_naming_the_database_while_it_is_cut_and_200_after(
    outage: tuple[ApiServer, TcpProxy],
) -> None:
    api, proxy = outage
    async with api.aclient(None) as http:
        up = await _readiness(http, 200)
        assert up["ready"] is True and up["database"] == {"reachable": True}
        assert up["region"] is None and up["load"]["capacity"] == 100
        before = _metric((await http.get("/metrics")).text, "aybiza_database_outage_seconds_total")
        proxy.cut(Outage.RESET)
        try:
            down = await _readiness(http, 503)
            metrics = (await http.get("/metrics")).text
        finally:
            proxy.restore()
        assert down["ready"] is False
        assert down["unavailable"] == ["database"]
        assert down["database"]["reachable"] is False
        assert down["database"]["error"]
        assert down["database"]["unreachable_for_s"] >= 0
        assert _metric(metrics, "aybiza_database_reachable") == 0
        assert await _readiness(http, 200) == up
        after = (await http.get("/metrics")).text
        assert _metric(after, "aybiza_database_reachable") == 1
        assert _metric(after, "aybiza_database_outage_seconds_total") > before


async def test_item9_a_live_call_keeps_talking_through_a_database_outage_and_loses_nothing(
    outage: tuple[ApiServer, TcpProxy],
) -> None:
    api, proxy = outage
    async with api.aclient(OPERATOR_KEY) as http, asyncio.timeout(180):
        call = await SimulatedCall.dial(api.base_url, to=DEMO_PHONE_NUMBER)
        try:
            async with call:
                await call.wait_for_agent_audio(timeout=30)
                await call.wait_until_agent_done(timeout=30)
                proxy.cut(Outage.RESET)
                await _readiness(http, 503)
                # The caller asks for the opening hours, then to book, and is answered each
                # time, with the database unreachable all along; then hangs up.
                await call.send_dtmf("2")
                await call.wait_for_agent_audio(timeout=30)
                await call.wait_until_agent_done(timeout=30)
                await call.send_dtmf("1")
                await call.wait_for_agent_audio(timeout=30)
                await call.wait_until_agent_done(timeout=30)
                assert not call.ended
                metrics = (await http.get("/metrics")).text
                assert _metric(metrics, "aybiza_store_writes_queued") > 0
                assert (await http.get("/readyz")).status_code == 503
        finally:
            proxy.restore()
        await _readiness(http, 200)
        record = await _record_when_ended(http, call.call_sid)
    transcript = [(line["speaker"], line["text"]) for line in record["transcript"]]
    assert [speaker for speaker, _ in transcript] == ["agent", "caller", "agent", "caller", "agent"]
    assert transcript[1][1] == "DTMF 2" and transcript[3][1] == "DTMF 1"
    assert "open Monday to Friday" in transcript[2][1]
    assert "What day and time" in transcript[4][1]
    assert [line["seq"] for line in record["transcript"]] == [1, 2, 3, 4, 5]
    turns = [(turn["user_text"], turn["heard_text"]) for turn in record["turns"]]
    assert turns == [("DTMF 2", transcript[2][1]), ("DTMF 1", transcript[4][1])]
    assert record["status"] == "completed"
    assert record["ended_reason"] == "caller-hangup"


async def _record_when_ended(http: httpx.AsyncClient, call_sid: str) -> dict[str, Any]:
    for _ in range(600):
        response = await http.get(f"/v1/calls/{call_sid}")
        record: dict[str, Any] = response.json()
        if response.status_code == 200 and record["ended_reason"] is not None:
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_sid} never ended: {record}")
