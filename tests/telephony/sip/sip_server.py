"""``aybiza serve`` answering SIP on loopback for the SIPp tests, and the API calls they make:
agents and ``sip_trunk`` numbers to set up, call records to check.

Each server gets its own SIP port and RTP port range, so test processes running side by side do
not collide; outbound gateways may be on loopback (``AYBIZA_OUTBOUND_ALLOW_CIDRS``), and a
silent gateway is passed over after half a second (``AYBIZA_SIP_FAILOVER_S``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.server_process import RunningServer, running_server
from tests.telephony.sip.sipp_peer import free_port, free_rtp_range

Record = dict[str, Any]
# A flow agent that greets, waits for anything the caller says or presses, then hangs up.
GOODBYE_AGENT: dict[str, Any] = {
    "name": "Goodbye on any key",
    "system_prompt": "You say goodbye.",
    "greeting": "Hello. Press any key.",
    "flow": {
        "start": "main",
        "nodes": {
            "main": {"type": "listen", "branches": [{"next": "bye"}]},
            "bye": {"type": "end", "text": "Goodbye."},
        },
    },
}


def new_e164() -> str:
    """A random number in the 555 range (unique enough for one server)."""
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


@dataclass(frozen=True)
class SipServer:
    """A running server with SIP on ``127.0.0.1:sip_port`` (UDP and TCP)."""

    http: RunningServer
    sip_port: int

    @property
    def sip_target(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    async def api(self, method: str, path: str, body: object = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.http.base_url, timeout=10) as client:
            return await client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {self.http.api_key}"}
            )

    async def created(self, path: str, body: object) -> Record:
        response = await self.api("POST", path, body)
        assert response.status_code == 201, response.text
        created: Record = response.json()
        return created

    async def trunk_number(self, agent_id: str, **trunk: Any) -> str:
        """A new ``sip_trunk`` number of ``agent_id`` with the trunk settings ``trunk``."""
        trunk.setdefault("gateways", [f"127.0.0.1:{free_port()}"])
        number = new_e164()
        body = {"number": number, "type": "sip_trunk", "agent_id": agent_id, "sip": trunk}
        await self.created("/v1/phone-numbers", body)
        return number

    async def demo_agent_id(self) -> str:
        response = await self.api("GET", "/v1/agents")
        agents = response.json()["data"]
        return str(next(a["id"] for a in agents if a["name"].startswith("ACME")))

    async def calls(self) -> list[Record]:
        """Every call of the demo tenant, newest first."""
        found: list[Record] = []
        cursor = None
        while True:
            query = "/v1/calls?limit=100" + (f"&cursor={cursor}" if cursor else "")
            page = (await self.api("GET", query)).json()
            found += page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return found

    async def record(self, call_id: str) -> Record:
        response = await self.api("GET", f"/v1/calls/{call_id}")
        assert response.status_code == 200, response.text
        record: Record = response.json()
        return record

    async def record_by_sid(self, call_sid: str) -> Record:
        """The record of the call whose SIP Call-ID is ``call_sid``."""
        for call in await self.calls():
            if call["call_sid"] == call_sid:
                return await self.record(call["id"])
        raise AssertionError(f"no call record for Call-ID {call_sid}")

    async def ended(self, call_id: str, timeout_s: float = 15) -> Record:
        """The record once the server has written the call's end (polled: no timing is
        asserted, the limit only stops a broken test from hanging)."""
        record: Record = {}
        for _ in range(int(timeout_s / 0.1)):
            record = await self.record(call_id)
            if record["ended_at"] is not None:
                return record
            await asyncio.sleep(0.1)
        raise AssertionError(f"call {call_id} never ended: {record}")

    async def status_reaches(self, call_id: str, status: str, timeout_s: float = 15) -> Record:
        record: Record = {}
        for _ in range(int(timeout_s / 0.1)):
            record = await self.record(call_id)
            if record["status"] == status:
                return record
            await asyncio.sleep(0.1)
        raise AssertionError(f"call {call_id} never became {status}: {record}")


@contextmanager
def sip_server(data_dir: Path, rtp_pairs: int = 20, **env: str) -> Iterator[SipServer]:
    """``aybiza serve`` with SIP on a free loopback port and ``env`` on top."""
    port = free_port()
    settings = {
        "AYBIZA_SIP_LISTEN": f"udp:127.0.0.1:{port},tcp:127.0.0.1:{port}",
        "AYBIZA_RTP_PORTS": free_rtp_range(rtp_pairs),
        "AYBIZA_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
        "AYBIZA_SIP_FAILOVER_S": "0.5",
        **env,
    }
    # The machine is shared: a loaded one takes far longer than usual to start a server.
    with running_server(data_dir, settings, start_timeout_s=120) as running:
        yield SipServer(running, port)
