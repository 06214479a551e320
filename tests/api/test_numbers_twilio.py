"""Phone numbers through Twilio's REST API (the fake): ``managed`` numbers bought and released on
the platform's account, ``twilio`` numbers imported from a customer's account with its token
sealed at rest, pointed here and restored on delete; webhooks of imported numbers checked with
the customer's token."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.api.carrier import (
    CUSTOMER_SID,
    CUSTOMER_TOKEN,
    PLATFORM_SID,
    PLATFORM_TOKEN,
    Carrier,
    incoming_form,
)
from tests.api.conftest import ApiServer
from tests.api.helpers import create_agent, demo_agent_body, new_e164

from aybiza.security.secretbox import load_master_key, secret_box
from aybiza.simulator.errors import StreamRejectedError
from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.simulator.webhook import parse_twiml, stream_connect_url
from aybiza.store.models import PhoneNumber


def _area_code() -> str:
    """An area code no other test buys in (the fake sells 100 numbers per area)."""
    return str(secrets.choice(range(200, 1000)))


def _agent(carrier: Carrier) -> tuple[httpx.Client, str]:
    http = carrier.api.client(carrier.api.tenant(max_concurrent_calls=100).key)
    return http, create_agent(http)["id"]


def _stored(api: ApiServer, number_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with api.app.state.database.session() as session:
            row = (
                await session.execute(select(PhoneNumber).where(PhoneNumber.id == number_id))
            ).scalar_one()
            return dict(row.provider_data)

    return api.run(read())


def test_a_managed_number_is_bought_pointed_here_and_released(carrier: Carrier) -> None:
    http, agent_id = _agent(carrier)
    e164 = new_e164()
    response = http.post(
        "/v1/phone-numbers", json={"number": e164, "type": "managed", "agent_id": agent_id}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["provisioning"] == "bought" and created["twilio"] is None
    bought = carrier.fake.number(e164)
    assert bought is not None and bought.account_sid == PLATFORM_SID
    assert bought.voice_url == f"{carrier.api.base_url}/twilio/voice"
    assert bought.voice_method == "POST"
    assert bought.status_callback == f"{carrier.api.base_url}/twilio/status"
    request = carrier.fake.recorded("POST", "/IncomingPhoneNumbers.json")[-1]
    assert request.form["PhoneNumber"] == [e164] and request.account_sid == PLATFORM_SID

    assert http.delete(f"/v1/phone-numbers/{created['id']}").status_code == 204
    assert carrier.fake.number(e164) is None
    assert carrier.fake.recorded("DELETE", f"/IncomingPhoneNumbers/{bought.sid}.json")


def test_a_managed_number_is_found_by_area_code(carrier: Carrier) -> None:
    http, agent_id = _agent(carrier)
    area = _area_code()
    body = {"type": "managed", "area_code": area, "country": "US", "agent_id": agent_id}
    response = http.post("/v1/phone-numbers", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["number"] == f"+1{area}5550100"
    search = carrier.fake.recorded("GET", "/AvailablePhoneNumbers/US/Local.json")[-1]
    assert search.query["AreaCode"] == [area] and search.query["VoiceEnabled"] == ["true"]
    assert http.delete(f"/v1/phone-numbers/{response.json()['id']}").status_code == 204


def test_numbers_twilio_cannot_sell_are_refused_naming_the_field(carrier: Carrier) -> None:
    http, agent_id = _agent(carrier)
    area = "199"  # outside the range other tests buy in
    carrier.fake.sold_out_areas.add(area)
    sold_out = http.post(
        "/v1/phone-numbers", json={"type": "managed", "area_code": area, "agent_id": agent_id}
    )
    assert sold_out.status_code == 409, sold_out.text
    assert sold_out.json()["error"]["code"] == "number_unavailable"
    assert sold_out.json()["error"]["field"] == "area_code"
    taken = new_e164()
    carrier.fake.unavailable.add(taken)
    refused = http.post(
        "/v1/phone-numbers", json={"number": taken, "type": "managed", "agent_id": agent_id}
    )
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "number"
    assert "21422" in refused.json()["error"]["message"]
    nowhere = http.post(
        "/v1/phone-numbers",
        json={"type": "managed", "area_code": "20", "country": "ZZ", "agent_id": agent_id},
    )
    assert nowhere.status_code == 422 and nowhere.json()["error"]["field"] == "country"


def test_fields_each_number_type_takes_are_checked(carrier: Carrier) -> None:
    http, agent_id = _agent(carrier)
    for body, field in (
        ({"type": "managed"}, "number"),
        ({"type": "twilio"}, "number"),
        ({"type": "managed", "number": new_e164(), "area_code": "415"}, "area_code"),
        ({"type": "twilio", "number": new_e164(), "area_code": "415"}, "area_code"),
        ({"type": "managed", "area_code": "415", "country": "usa"}, "country"),
        ({"type": "managed", "number": new_e164(), "country": "US"}, "country"),
        (
            {"type": "managed", "number": new_e164(), "twilio_account_sid": CUSTOMER_SID},
            "twilio_account_sid",
        ),
        (
            {"type": "twilio", "number": new_e164(), "twilio_account_sid": CUSTOMER_SID},
            "twilio_auth_token",
        ),
        ({"type": "twilio", "number": new_e164(), "twilio_auth_token": "x"}, "twilio_account_sid"),
        (
            {"type": "twilio", "number": new_e164(), "twilio_account_sid": "AC1"},
            "twilio_account_sid",
        ),
    ):
        response = http.post("/v1/phone-numbers", json={**body, "agent_id": agent_id})
        assert response.status_code == 422, (body, response.text)
        fields = [problem["field"] for problem in response.json()["errors"]]
        assert field in fields, (body, response.text)


def _import(carrier: Carrier, http: httpx.Client, agent_id: str) -> tuple[str, dict[str, Any]]:
    e164 = new_e164()
    carrier.fake.add_number(
        CUSTOMER_SID,
        e164,
        voice_url="https://old.example/voice",
        status_callback="https://old.example/status",
    )
    body = {
        "number": e164,
        "type": "twilio",
        "agent_id": agent_id,
        "twilio_account_sid": CUSTOMER_SID,
        "twilio_auth_token": CUSTOMER_TOKEN,
    }
    response = http.post("/v1/phone-numbers", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return e164, created


def test_an_imported_number_keeps_its_token_sealed_and_gets_its_old_url_back(
    carrier: Carrier,
) -> None:
    http, agent_id = _agent(carrier)
    e164, created = _import(carrier, http, agent_id)
    assert created["provisioning"] == "imported"
    assert created["twilio"]["account_sid"] == CUSTOMER_SID
    assert created["twilio"]["auth_token_set"] is True
    assert CUSTOMER_TOKEN not in http.get(f"/v1/phone-numbers/{created['id']}").text
    stored = _stored(carrier.api, created["id"])
    assert CUSTOMER_TOKEN not in str(stored)
    assert stored["auth_token_sealed"].startswith("ag1.")
    box = secret_box(load_master_key(None, carrier.api.data_dir))
    assert box.open(stored["auth_token_sealed"]) == CUSTOMER_TOKEN
    number = carrier.fake.number(e164)
    assert number is not None
    assert number.voice_url == f"{carrier.api.base_url}/twilio/voice"
    assert number.status_callback == f"{carrier.api.base_url}/twilio/status"
    update = carrier.fake.recorded("POST", f"/IncomingPhoneNumbers/{number.sid}.json")[-1]
    assert update.account_sid == CUSTOMER_SID and update.form["VoiceMethod"] == ["POST"]

    assert http.delete(f"/v1/phone-numbers/{created['id']}").status_code == 204
    assert number.voice_url == "https://old.example/voice"
    assert number.status_callback == "https://old.example/status"


def test_an_import_with_bad_credentials_or_someone_else_s_number_is_refused(
    carrier: Carrier,
) -> None:
    http, agent_id = _agent(carrier)
    e164 = new_e164()
    carrier.fake.add_number(CUSTOMER_SID, e164)
    body = {"number": e164, "type": "twilio", "agent_id": agent_id}
    wrong = http.post(
        "/v1/phone-numbers",
        json={**body, "twilio_account_sid": CUSTOMER_SID, "twilio_auth_token": "wrong"},
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "twilio_auth_token"
    assert "20003" in wrong.json()["error"]["message"]
    not_theirs = http.post(
        "/v1/phone-numbers",
        json={
            **body,
            "number": new_e164(),
            "twilio_account_sid": CUSTOMER_SID,
            "twilio_auth_token": CUSTOMER_TOKEN,
        },
    )
    assert not_theirs.status_code == 422 and not_theirs.json()["error"]["field"] == "number"
    assert carrier.fake.number(e164).voice_url == ""  # type: ignore[union-attr]


def test_webhooks_of_an_imported_number_are_checked_with_the_customer_s_token(
    carrier: Carrier,
) -> None:
    http, agent_id = _agent(carrier)
    e164, created = _import(carrier, http, agent_id)
    answered = carrier.signed_post(
        "/twilio/voice", incoming_form(e164, CUSTOMER_SID), CUSTOMER_TOKEN
    )
    assert answered.status_code == 200, answered.text
    # The stream of the customer's call is signed with the customer's token too: its URL
    # names the call so the server knows which token to check.
    call = http.get("/v1/calls", params={"number": e164}).json()["data"][0]
    assert f"/twilio/stream/{call['id']}" in answered.text
    forged = carrier.signed_post("/twilio/voice", incoming_form(e164, CUSTOMER_SID), PLATFORM_TOKEN)
    assert forged.status_code == 403
    # After a rotation the new token is stored (sealed) and checks the webhooks.
    rotated = http.patch(
        f"/v1/phone-numbers/{created['id']}", json={"twilio_auth_token": "rotated-token"}
    )
    assert rotated.status_code == 200, rotated.text
    carrier.fake.accounts[CUSTOMER_SID] = "rotated-token"
    try:
        again = carrier.signed_post(
            "/twilio/voice", incoming_form(e164, CUSTOMER_SID), "rotated-token"
        )
        assert again.status_code == 200, again.text
        assert http.delete(f"/v1/phone-numbers/{created['id']}").status_code == 204
    finally:
        carrier.fake.accounts[CUSTOMER_SID] = CUSTOMER_TOKEN
    # Numbers on the platform's account are checked with the platform's token.
    managed = new_e164()
    http.post(
        "/v1/phone-numbers", json={"number": managed, "type": "managed", "agent_id": agent_id}
    )
    platform = carrier.signed_post(
        "/twilio/voice", incoming_form(managed, PLATFORM_SID), PLATFORM_TOKEN
    )
    assert platform.status_code == 200 and '/twilio/stream"' in platform.text


def test_only_imported_numbers_take_a_new_auth_token(carrier: Carrier) -> None:
    http, agent_id = _agent(carrier)
    managed = http.post(
        "/v1/phone-numbers", json={"number": new_e164(), "type": "managed", "agent_id": agent_id}
    ).json()
    response = http.patch(f"/v1/phone-numbers/{managed['id']}", json={"twilio_auth_token": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "twilio_auth_token"


def test_twilio_failing_a_release_is_reported_with_its_code(carrier: Carrier) -> None:
    http, agent_id = _agent(carrier)
    e164 = new_e164()
    created = http.post(
        "/v1/phone-numbers", json={"number": e164, "type": "managed", "agent_id": agent_id}
    ).json()
    carrier.fake.accounts[PLATFORM_SID] = "rotated-elsewhere"
    try:
        refused = http.delete(f"/v1/phone-numbers/{created['id']}")
    finally:
        carrier.fake.accounts[PLATFORM_SID] = PLATFORM_TOKEN
    assert refused.status_code == 502, refused.text
    error = refused.json()["error"]
    assert error["code"] == "provisioning_failed" and error["twilio_code"] == 20003
    assert http.get(f"/v1/phone-numbers/{created['id']}").status_code == 200
    assert http.delete(f"/v1/phone-numbers/{created['id']}").status_code == 204


def test_another_tenant_cannot_see_or_release_a_bought_number(carrier: Carrier) -> None:
    http, agent_id = _agent(carrier)
    e164 = new_e164()
    created = http.post(
        "/v1/phone-numbers", json={"number": e164, "type": "managed", "agent_id": agent_id}
    ).json()
    intruder = carrier.api.client(carrier.api.tenant().key)
    assert intruder.get(f"/v1/phone-numbers/{created['id']}").status_code == 404
    assert intruder.delete(f"/v1/phone-numbers/{created['id']}").status_code == 404
    assert carrier.fake.number(e164) is not None


def test_without_twilio_configured_carrier_work_is_refused_naming_the_field(
    api: ApiServer, http: httpx.Client
) -> None:
    agent_id = create_agent(http)["id"]
    managed = http.post(
        "/v1/phone-numbers", json={"number": new_e164(), "type": "managed", "agent_id": agent_id}
    )
    assert managed.status_code == 422 and managed.json()["error"]["field"] == "type"
    assert "TWILIO_ACCOUNT_SID" in managed.json()["error"]["message"]
    imported = http.post(
        "/v1/phone-numbers",
        json={
            "number": new_e164(),
            "type": "twilio",
            "agent_id": agent_id,
            "twilio_account_sid": CUSTOMER_SID,
            "twilio_auth_token": CUSTOMER_TOKEN,
        },
    )
    assert imported.status_code == 422, imported.text
    assert imported.json()["error"]["field"] == "twilio_account_sid"
    assert "AYBIZA_PUBLIC_URL" in imported.json()["error"]["message"]
    # Without credentials a twilio number is recorded as before.
    recorded = http.post(
        "/v1/phone-numbers", json={"number": new_e164(), "type": "twilio", "agent_id": agent_id}
    )
    assert recorded.status_code == 201 and recorded.json()["provisioning"] == "external"


async def test_the_stream_of_a_customer_s_call_is_checked_with_the_customer_s_token(
    carrier: Carrier,
) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    http = carrier.api.client(tenant.key)
    agent_id = create_agent(http, demo_agent_body())["id"]
    e164, _ = _import(carrier, http, agent_id)
    form = incoming_form(e164, CUSTOMER_SID)
    answer = parse_twiml(carrier.signed_post("/twilio/voice", form, CUSTOMER_TOKEN).text)
    assert answer.stream_url is not None
    ws_url = stream_connect_url(answer.stream_url, carrier.api.base_url)
    options: dict[str, Any] = {
        "signed_url": answer.stream_url,
        "custom_parameters": answer.custom_parameters,
        "call_sid": form["CallSid"],
        "account_sid": CUSTOMER_SID,
    }
    with pytest.raises(StreamRejectedError) as forged:
        await SimulatedCall.connect_stream(ws_url, auth_token=PLATFORM_TOKEN, **options)
    assert forged.value.status_code == 403
    async with asyncio.timeout(60):
        call = await SimulatedCall.connect_stream(ws_url, auth_token=CUSTOMER_TOKEN, **options)
        async with call:
            await call.wait_for_agent_audio(timeout=30)
