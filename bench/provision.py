"""AYBIZA's bench agent, created through the platform API like a user would: the agent, its
Twilio number (``BENCH_NUMBER``) and its SIP trunk number (``BENCH_SIP_NUMBER``)."""

from __future__ import annotations

import httpx

from bench.stack_config import BENCH_NUMBER, BENCH_SIP_NUMBER, LlmKind, bench_agent


def provision_bench_agent(base_url: str, api_key: str, llm: LlmKind) -> None:
    """Create the bench agent on ``llm`` and its two numbers on the server at ``base_url``."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        agent = client.post("/v1/agents", json=bench_agent(llm))
        agent.raise_for_status()
        number = client.post(
            "/v1/phone-numbers",
            json={"number": BENCH_NUMBER, "type": "twilio", "agent_id": agent.json()["id"]},
        )
        number.raise_for_status()
        sip_number = client.post(
            "/v1/phone-numbers",
            json={
                "number": BENCH_SIP_NUMBER,
                "type": "sip_trunk",
                "agent_id": agent.json()["id"],
                # Inbound only: the gateway is never dialled.
                "sip": {"gateways": ["127.0.0.1:5999"], "allowed_cidrs": ["127.0.0.0/8"]},
            },
        )
        sip_number.raise_for_status()
