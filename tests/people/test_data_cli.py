"""``aybiza data`` as an operator runs it against the running server's database: retention
and compliance changes show through the API, the export lists the tenant's agent, erasing a
caller removes their call, and a malformed number is refused naming the field."""

from __future__ import annotations

import json

from tests.api.conftest import ApiServer
from tests.api.helpers import create_agent, create_number, demo_agent_body, new_e164, ring
from typer.testing import CliRunner, Result

from aybiza.cli import app
from aybiza.store.models import Call, utcnow


def _cli(server: ApiServer, *args: str) -> Result:
    """The command in this process (``asyncio.run`` on its own loop, its own database engine),
    on the server's database and data directory (its master key)."""
    env = {"AYBIZA_DATABASE_URL": server.database_url, "AYBIZA_DATA_DIR": str(server.data_dir)}
    return CliRunner().invoke(app, list(args), env=env)


def _own(stdout: str) -> list[str]:
    """The command's JSON lines: the server runs in this process too, and its log lines reach
    the same stdout (they start with a timestamp)."""
    return [line for line in stdout.splitlines() if line[:1] in ("{", "}", " ")]


def test_data_retention_compliance_export_and_erasure(server: ApiServer) -> None:
    tenant = server.tenant()
    http = server.client(tenant.key)
    set_days = _cli(server, "data", "retention", "--tenant", tenant.name, "--events-days", "7")
    assert set_days.exit_code == 0, set_days.output
    assert "events           7 days" in set_days.stdout
    assert http.get("/v1/tenant/retention").json() == {
        "transcripts_days": None,
        "events_days": 7,
        "recordings_days": None,
    }
    pci = _cli(server, "data", "compliance", "--tenant", tenant.name, "pci")
    assert pci.exit_code == 0, pci.output
    assert http.get("/v1/tenant/compliance").json() == {"compliance_mode": "pci"}
    refused = _cli(server, "data", "compliance", "--tenant", tenant.name, "sox")
    assert refused.exit_code == 2 and "compliance_mode" in refused.output

    agent = create_agent(http, demo_agent_body())
    number = create_number(http, agent["id"])["number"]
    caller = new_e164()
    answer = ring(server.twilio, number, from_=caller)

    call_id = http.get(f"/v1/calls/{answer.call_sid}").json()["id"]

    async def end_call() -> None:
        # The ringing call never streams: end it as Twilio's status callback would.
        async with server.app.state.database.writing() as session:
            row = await session.get(Call, call_id)
            assert row is not None
            row.status, row.ended_at = "completed", utcnow()

    server.run(end_call())
    exported = _cli(server, "data", "export", "--tenant", tenant.name)
    assert exported.exit_code == 0, exported.output
    kinds = [json.loads(line)["type"] for line in _own(exported.stdout)]
    assert kinds[0] == "export" and "agent" in kinds and "call" in kinds

    bad = _cli(server, "data", "erase-caller", "--tenant", tenant.name, "5551234")
    assert bad.exit_code == 2 and "number" in bad.output
    erased = _cli(server, "data", "erase-caller", "--tenant", tenant.name, caller)
    assert erased.exit_code == 0, erased.output
    assert json.loads("".join(_own(erased.stdout)))["erased"]["calls"] == 1
    assert http.get(f"/v1/calls/{answer.call_sid}").status_code == 404
    swept = _cli(server, "data", "sweep")
    assert swept.exit_code == 0, swept.output
    assert isinstance(json.loads("".join(_own(swept.stdout))), dict)
