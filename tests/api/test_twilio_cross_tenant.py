"""Hardening item 2: a tenant's Twilio token never acts on another tenant's call. The token
that checks a webhook about a known call is chosen by the call's own number (and the form's
``AccountSid`` must be that number's account), whatever number the form names in ``To``."""

from __future__ import annotations

from typing import Any

import httpx
from tests.api.carrier import (
    CUSTOMER_SID,
    CUSTOMER_TOKEN,
    PLATFORM_SID,
    PLATFORM_TOKEN,
    Carrier,
    incoming_form,
)
from tests.api.helpers import create_agent, new_e164


def _tenant_with_number(carrier: Carrier, body: dict[str, Any]) -> tuple[httpx.Client, str]:
    http = carrier.api.client(carrier.api.tenant(max_concurrent_calls=100).key)
    agent_id = create_agent(http)["id"]
    e164 = body["number"]
    created = http.post("/v1/phone-numbers", json=body | {"agent_id": agent_id})
    assert created.status_code == 201, created.text
    return http, e164


def _victim_call(carrier: Carrier) -> tuple[httpx.Client, dict[str, str]]:
    """Tenant B: a managed number on the platform's account and a call ringing on it."""
    http, e164 = _tenant_with_number(carrier, {"number": new_e164(), "type": "managed"})
    form = incoming_form(e164, PLATFORM_SID)
    answered = carrier.signed_post("/twilio/voice", form, PLATFORM_TOKEN)
    assert answered.status_code == 200, answered.text
    return http, form


def _attacker_number(carrier: Carrier) -> str:
    """Tenant A: a number imported from its own Twilio account (its own auth token)."""
    e164 = new_e164()
    carrier.fake.add_number(CUSTOMER_SID, e164)
    _tenant_with_number(
        carrier,
        {
            "number": e164,
            "type": "twilio",
            "twilio_account_sid": CUSTOMER_SID,
            "twilio_auth_token": CUSTOMER_TOKEN,
        },
    )
    return e164


def _call(http: httpx.Client, call_sid: str) -> dict[str, Any]:
    calls = http.get("/v1/calls", params={"limit": 100}).json()["data"]
    [call] = [c for c in calls if c["call_sid"] == call_sid]
    return dict(call)


def test_item2_a_status_callback_signed_with_another_tenant_s_token_is_refused(
    carrier: Carrier,
) -> None:
    victim, form = _victim_call(carrier)
    attacker = _attacker_number(carrier)
    forged = form | {"To": attacker, "AccountSid": CUSTOMER_SID, "CallStatus": "completed"}
    answer = carrier.signed_post("/twilio/status", forged, CUSTOMER_TOKEN)
    assert answer.status_code == 403, answer.text
    call = _call(victim, form["CallSid"])
    assert call["status"] == "ringing" and call["ended_reason"] is None


def test_item2_a_connect_action_signed_with_another_tenant_s_token_is_refused(
    carrier: Carrier,
) -> None:
    victim, form = _victim_call(carrier)
    attacker = _attacker_number(carrier)
    forged = form | {"To": attacker, "AccountSid": CUSTOMER_SID}
    answer = carrier.signed_post("/twilio/connect-action", forged, CUSTOMER_TOKEN)
    assert answer.status_code == 403, answer.text
    assert _call(victim, form["CallSid"])["ended_reason"] is None


def test_item2_the_right_token_with_another_account_sid_is_refused(carrier: Carrier) -> None:
    victim, form = _victim_call(carrier)
    forged = form | {"AccountSid": CUSTOMER_SID, "CallStatus": "completed"}
    answer = carrier.signed_post("/twilio/status", forged, PLATFORM_TOKEN)
    assert answer.status_code == 403 and answer.json()["error"]["field"] == "AccountSid"
    assert _call(victim, form["CallSid"])["ended_reason"] is None
    # The call's own account ends it as Twilio would.
    genuine = carrier.signed_post(
        "/twilio/status", form | {"CallStatus": "completed"}, PLATFORM_TOKEN
    )
    assert genuine.status_code == 204, genuine.text
    assert _call(victim, form["CallSid"])["ended_reason"] == "caller-hangup"
