"""Setting up campaigns in the API tests: a tenant with a Twilio number and an agent, and a
campaign body whose window is always open."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from tests.api.carrier import Carrier
from tests.api.helpers import create_agent, new_e164

ALWAYS = {
    "start": "00:00",
    "end": "24:00",
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
}


def callee(area: str = "212") -> str:
    """A fictional number (555-xxxx) in a US area code, unique enough for a test session."""
    return f"+1{area}555" + "".join(secrets.choice("0123456789") for _ in range(4))


def tenant_with_number(
    carrier: Carrier, *scopes: str, voicemail: dict[str, Any] | None = None
) -> tuple[httpx.Client, dict[str, Any]]:
    """A fresh tenant's client and its managed number (answered by a fresh agent, with the
    ``voicemail`` block given)."""
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    http = carrier.api.client(tenant.key)
    agent: dict[str, Any] = {
        "name": "Campaigner",
        "system_prompt": "You call {{first_name}} about {{topic}}.",
    }
    if voicemail is not None:
        agent["voicemail"] = voicemail
    agent_id = create_agent(http, agent)["id"]
    body = {"number": new_e164(), "type": "managed", "agent_id": agent_id}
    response = http.post("/v1/phone-numbers", json=body)
    assert response.status_code == 201, response.text
    if scopes:
        http = carrier.api.client(carrier.api.key(tenant, scopes))
    return http, response.json()


def campaign_body(
    number: dict[str, Any], contacts: list[dict[str, Any]], **changes: Any
) -> dict[str, Any]:
    """A campaign from ``number`` to ``contacts``, dialling fast, its window always open."""
    return {
        "name": "December renewals",
        "from_number_id": number["id"],
        "pacing": {"calls_per_minute": 600, "max_concurrent_calls": 10},
        "calling_window": ALWAYS,
        "retry": {"max_attempts": 2, "backoff_s": 1, "multiplier": 1},
        "contacts": contacts,
        **changes,
    }
