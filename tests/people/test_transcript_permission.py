"""``transcripts:read``: people and keys without it (the analyst and billing roles) do not see
what was said on calls of agents that redact PII; timings and costs stay visible."""

from __future__ import annotations

import secrets

from sqlalchemy import update
from tests.api.conftest import ApiServer
from tests.api.helpers import create_agent
from tests.people.helpers import add_person, sign_in

from aybiza.store.models import AgentVersion, Call, TranscriptLine, utcnow


def _call_of(server: ApiServer, tenant_id: str, agent: dict[str, object], redaction: bool) -> str:
    async def make() -> str:
        database = server.app.state.database
        async with database.writing() as session:
            version = (
                await session.execute(
                    AgentVersion.__table__.select().where(AgentVersion.agent_id == agent["id"])
                )
            ).first()
            assert version is not None
            if redaction:
                config = {**version.config, "redaction": {"categories": ["email"], "mode": "mask"}}
                await session.execute(
                    update(AgentVersion).where(AgentVersion.id == version.id).values(config=config)
                )
            call = Call(
                tenant_id=tenant_id,
                call_sid="CA" + secrets.token_hex(16),
                agent_id=str(agent["id"]),
                agent_version=version.version,
                agent_version_id=version.id,
                status="completed",
                started_at=utcnow(),
                ended_at=utcnow(),
            )
            session.add(call)
            await session.flush()
            session.add(
                TranscriptLine(
                    tenant_id=tenant_id,
                    call_id=call.id,
                    seq=0,
                    speaker="caller",
                    text="my email is ada@example.com",
                )
            )
            return call.id

    return server.run(make())


def test_an_analyst_sees_no_transcript_of_a_redacting_agent(server: ApiServer) -> None:
    tenant = server.tenant()
    admin = server.client(tenant.key)
    redacting = _call_of(server, tenant.id, create_agent(admin), redaction=True)
    plain = _call_of(server, tenant.id, create_agent(admin), redaction=False)
    analyst = sign_in(server, add_person(server, tenant.id, "analyst"))
    developer = sign_in(server, add_person(server, tenant.id, "developer"))

    hidden = analyst.get(f"/v1/calls/{redacting}").json()
    assert hidden["transcript"] == [] and hidden["withheld"] == [
        "transcript",
        "turns.text",
        "tool_calls",
        "analysis",
    ]
    assert "ada@example.com" not in str(hidden) and hidden["status"] == "completed"
    shown = developer.get(f"/v1/calls/{redacting}").json()
    assert shown["transcript"][0]["text"] == "my email is ada@example.com"
    assert shown["withheld"] == []
    assert analyst.get(f"/v1/calls/{plain}").json()["transcript"][0]["speaker"] == "caller"
    calls_only = server.client(server.key(tenant, ("calls:read",)))
    assert calls_only.get(f"/v1/calls/{redacting}").json()["transcript"] == []
    both = server.client(server.key(tenant, ("calls:read", "transcripts:read")))
    assert both.get(f"/v1/calls/{redacting}").json()["transcript"] != []
