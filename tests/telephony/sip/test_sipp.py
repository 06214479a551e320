"""Interop with SIPp (Debian package sip-tester), an independent SIP implementation: its
built-in ``uac`` scenario (INVITE, 100/180/200, ACK, BYE) and an OPTIONS ping reach a loopback
UAS built from our signalling layers, over UDP and TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.telephony.sip.sipp_peer import free_port, sipp_binary
from tests.telephony.sip.uas import LoopbackUas

from aybiza.telephony.sip.endpoint import SipEndpoint

OPTIONS_SCENARIO = Path(__file__).parent / "sipp" / "options.xml"


@pytest.fixture
async def uas() -> AsyncIterator[tuple[LoopbackUas, SipEndpoint]]:
    user = LoopbackUas()
    endpoint = SipEndpoint(user)
    user.endpoint = endpoint
    await endpoint.listen("UDP", "127.0.0.1", 0)
    await endpoint.listen("TCP", "127.0.0.1", 0)
    yield user, endpoint
    await endpoint.close()


async def run_sipp(directory: Path, transport: str, target: tuple[str, int], *args: str) -> str:
    host, port = target
    process = await asyncio.create_subprocess_exec(
        sipp_binary(),
        f"{host}:{port}",
        "-i", "127.0.0.1",
        "-p", str(free_port()),
        "-mp", str(free_port()),
        "-t", "u1" if transport == "UDP" else "t1",
        "-nostdin",
        "-timeout", "30s",
        "-timeout_error",
        "-trace_err",
        "-error_file", str(directory / "errors.log"),
        *args,
        cwd=directory,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    errors = directory / "errors.log"
    details = errors.read_text(errors="replace") if errors.exists() else ""
    assert process.returncode == 0, output.decode(errors="replace")[-2000:] + details[-2000:]
    return output.decode(errors="replace")


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_item7_sipp_uac_calls_complete_against_our_uas(
    uas: tuple[LoopbackUas, SipEndpoint], tmp_path: Path, transport: str
) -> None:
    user, endpoint = uas
    address = endpoint.transport(transport).local_address
    assert address is not None
    await run_sipp(tmp_path, transport, address, "-sn", "uac", "-m", "3", "-r", "10", "-d", "200")
    assert user.events.count("INVITE") == 3
    assert user.events.count("ACK-2xx") == 3 and user.events.count("BYE") == 3
    assert len(user.dialogs) == 3


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_sipp_options_ping_is_answered_200(
    uas: tuple[LoopbackUas, SipEndpoint], tmp_path: Path, transport: str
) -> None:
    user, endpoint = uas
    address = endpoint.transport(transport).local_address
    assert address is not None
    await run_sipp(tmp_path, transport, address, "-sf", str(OPTIONS_SCENARIO), "-m", "2")
    assert user.events == ["OPTIONS", "OPTIONS"]
