"""The fake Twilio REST API, driven by the ``twilio`` library itself: what the SDK sends it
understands, and what it answers the SDK parses (sync client in a thread, and the async client
the platform uses)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from tests.fakes.twilio_rest import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

OTHER_SID, OTHER_TOKEN = "AC" + "b" * 32, "other-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio({DEFAULT_ACCOUNT_SID: DEFAULT_AUTH_TOKEN, OTHER_SID: OTHER_TOKEN}) as f:
        yield f


def client(
    fake: FakeTwilio, sid: str = DEFAULT_ACCOUNT_SID, token: str = DEFAULT_AUTH_TOKEN
) -> Any:
    sdk = Client(sid, token)
    sdk.api.base_url = fake.url
    return sdk


async def test_search_buy_update_fetch_list_and_release_a_number(fake: FakeTwilio) -> None:
    sdk = client(fake)
    found = await asyncio.to_thread(
        sdk.available_phone_numbers("US").local.list, area_code=415, voice_enabled=True, limit=3
    )
    assert [n.phone_number for n in found] == ["+14155550100", "+14155550101", "+14155550102"]
    assert found[0].capabilities == {"voice": True, "sms": True, "mms": True}
    assert found[0].friendly_name == "(415) 555-0100" and found[0].iso_country == "US"
    search = fake.recorded("GET", "/AvailablePhoneNumbers/US/Local.json")[0]
    assert search.query == {"AreaCode": ["415"], "VoiceEnabled": ["true"], "PageSize": ["3"]}

    bought = await asyncio.to_thread(
        sdk.incoming_phone_numbers.create,
        phone_number=found[0].phone_number,
        voice_url="https://aybiza.example/twilio/voice",
        voice_method="POST",
    )
    assert bought.sid.startswith("PN") and bought.voice_url.endswith("/twilio/voice")
    assert bought.status == "in-use" and bought.date_created is not None
    buy = fake.recorded("POST", "/IncomingPhoneNumbers.json")[0]
    assert buy.form["PhoneNumber"] == ["+14155550100"] and buy.form["VoiceMethod"] == ["POST"]

    updated = await asyncio.to_thread(
        sdk.incoming_phone_numbers(bought.sid).update, voice_url="https://elsewhere.example/v"
    )
    assert updated.voice_url == "https://elsewhere.example/v"
    fetched = await asyncio.to_thread(sdk.incoming_phone_numbers(bought.sid).fetch)
    assert fetched.phone_number == "+14155550100" and fetched.voice_url == updated.voice_url
    listed = await asyncio.to_thread(sdk.incoming_phone_numbers.list, phone_number="+14155550100")
    assert [n.sid for n in listed] == [bought.sid]
    again = await asyncio.to_thread(
        sdk.available_phone_numbers("US").local.list, area_code=415, limit=1
    )
    assert again[0].phone_number == "+14155550101", "a bought number is no longer for sale"

    assert await asyncio.to_thread(sdk.incoming_phone_numbers(bought.sid).delete) is True
    assert fake.number("+14155550100") is None
    with pytest.raises(TwilioRestException) as gone:
        await asyncio.to_thread(sdk.incoming_phone_numbers(bought.sid).fetch)
    assert (gone.value.status, gone.value.code) == (404, 20404)


async def test_buying_by_area_code_and_toll_free_search(fake: FakeTwilio) -> None:
    sdk = client(fake)
    bought = await asyncio.to_thread(sdk.incoming_phone_numbers.create, area_code="212")
    assert bought.phone_number == "+12125550100"
    toll_free = await asyncio.to_thread(sdk.available_phone_numbers("US").toll_free.list, limit=1)
    assert toll_free[0].phone_number == "+18005550100"
    fake.sold_out_areas.add("907")
    with pytest.raises(TwilioRestException) as none_left:
        await asyncio.to_thread(sdk.incoming_phone_numbers.create, area_code="907")
    assert (none_left.value.status, none_left.value.code) == (400, 21452)
    fake.unavailable.add("+14155550150")
    with pytest.raises(TwilioRestException) as taken:
        await asyncio.to_thread(sdk.incoming_phone_numbers.create, phone_number="+14155550150")
    assert taken.value.code == 21422 and "not available" in taken.value.msg


async def test_credentials_are_checked_per_account(fake: FakeTwilio) -> None:
    with pytest.raises(TwilioRestException) as wrong:
        await asyncio.to_thread(
            client(fake, token="wrong").incoming_phone_numbers.create, area_code="415"
        )
    assert (wrong.value.status, wrong.value.code) == (401, 20003)
    # Lists raise the SDK's plain TwilioException, with the error response attached.
    with pytest.raises(TwilioException) as page:
        await asyncio.to_thread(client(fake, token="wrong").incoming_phone_numbers.list)
    response = page.value.args[1]
    assert response.status_code == 401 and json.loads(response.text)["code"] == 20003
    theirs = fake.add_number(OTHER_SID, "+16505550123", voice_url="https://old.example/voice")
    mine = client(fake)
    assert await asyncio.to_thread(mine.incoming_phone_numbers.list) == []
    with pytest.raises(TwilioRestException) as hidden:
        await asyncio.to_thread(mine.incoming_phone_numbers(theirs.sid).fetch)
    assert hidden.value.code == 20404
    listed = await asyncio.to_thread(
        client(fake, OTHER_SID, OTHER_TOKEN).incoming_phone_numbers.list,
        phone_number=theirs.phone_number,
    )
    assert listed[0].voice_url == "https://old.example/voice"


async def test_calls_create_fetch_redirect_and_hang_up(fake: FakeTwilio) -> None:
    sdk = client(fake)
    fake.add_number(DEFAULT_ACCOUNT_SID, "+14155550100")
    call = await asyncio.to_thread(
        sdk.calls.create,
        to="+15558675310",
        from_="+14155550100",
        url="https://aybiza.example/twilio/voice?call_id=abc",
        status_callback="https://aybiza.example/twilio/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        status_callback_method="POST",
    )
    assert (
        call.sid.startswith("CA") and call.status == "queued" and call.direction == "outbound-api"
    )
    created = fake.recorded("POST", "/Calls.json")[0]
    assert created.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert created.form["Url"] == ["https://aybiza.example/twilio/voice?call_id=abc"]

    redirected = await asyncio.to_thread(
        sdk.calls(call.sid).update, twiml="<Response><Dial>+15551112222</Dial></Response>"
    )
    assert redirected.status == "queued"
    assert fake.calls[call.sid].redirects == [
        {"Twiml": "<Response><Dial>+15551112222</Dial></Response>"}
    ]
    ended = await asyncio.to_thread(sdk.calls(call.sid).update, status="completed")
    assert ended.status == "completed" and ended.end_time is not None
    fetched = await asyncio.to_thread(sdk.calls(call.sid).fetch)
    assert fetched.status == "completed" and fetched.to == "+15558675310"
    with pytest.raises(TwilioRestException) as late:
        await asyncio.to_thread(sdk.calls(call.sid).update, twiml="<Response/>")
    assert late.value.code == 21220
    with pytest.raises(TwilioRestException) as unknown:
        await asyncio.to_thread(sdk.calls("CA" + "0" * 32).update, status="completed")
    assert (unknown.value.status, unknown.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as unverified:
        await asyncio.to_thread(
            sdk.calls.create, to="+15558675310", from_="+19995550000", twiml="<Response/>"
        )
    assert unverified.value.code == 21210


async def test_cancel_only_ends_calls_not_yet_answered(fake: FakeTwilio) -> None:
    sdk = client(fake)
    fake.add_number(DEFAULT_ACCOUNT_SID, "+14155550100")
    ringing = await asyncio.to_thread(
        sdk.calls.create, to="+15551230000", from_="+14155550100", twiml="<Response/>"
    )
    assert (
        await asyncio.to_thread(sdk.calls(ringing.sid).update, status="canceled")
    ).status == "canceled"
    answered = await asyncio.to_thread(
        sdk.calls.create, to="+15551230001", from_="+14155550100", twiml="<Response/>"
    )
    await fake.answer(answered.sid)
    still = await asyncio.to_thread(sdk.calls(answered.sid).update, status="canceled")
    assert still.status == "in-progress"


async def test_messages_create_with_the_async_client(fake: FakeTwilio) -> None:
    fake.add_number(DEFAULT_ACCOUNT_SID, "+14155550100")
    http = AsyncTwilioHttpClient()
    sdk = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, http_client=http)
    sdk.api.base_url = fake.url
    try:
        message = await sdk.messages.create_async(
            to="+15558675310", from_="+14155550100", body="Hi"
        )
        assert message.sid.startswith("SM") and message.status == "queued"
        assert message.body == "Hi" and message.num_segments == "1"
        with pytest.raises(TwilioRestException) as refused:
            await sdk.messages.create_async(to="+15558675310", from_="+19995550000", body="Hi")
        assert (refused.value.status, refused.value.code) == (400, 21606)
        call = await sdk.calls.create_async(
            to="+15558675310",
            from_="+14155550100",
            url="https://aybiza.example/voice",
            status_callback="https://aybiza.example/status",
            status_callback_event=["initiated", "answered"],
        )
        assert call.status == "queued"
    finally:
        await http.close()
    assert fake.messages[0].body == "Hi"
    # The async client sends repeated keys for a list, like the sync one.
    assert fake.recorded("POST", "/Calls.json")[0].form["StatusCallbackEvent"] == [
        "initiated",
        "answered",
    ]


async def test_the_fake_plays_twilio_s_part_with_signed_webhooks(fake: FakeTwilio) -> None:
    received: list[tuple[str, dict[str, str], bool]] = []

    async def webhook(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        url = str(request.url)
        valid = RequestValidator(DEFAULT_AUTH_TOKEN).validate(
            url, form, request.headers["X-Twilio-Signature"]
        )
        received.append((request.path, form, valid))
        return web.Response(text="<Response><Hangup/></Response>", content_type="application/xml")

    app = web.Application()
    app.add_routes([web.post("/voice", webhook), web.post("/status", webhook)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.auto_answer = True
    fake.add_number(DEFAULT_ACCOUNT_SID, "+14155550100")
    try:
        sdk = client(fake)
        call = await asyncio.to_thread(
            sdk.calls.create,
            to="+15558675310",
            from_="+14155550100",
            url=f"http://127.0.0.1:{port}/voice?call_id=x",
            status_callback=f"http://127.0.0.1:{port}/status",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
        )
        for _ in range(200):
            if len(received) >= 4:
                break
            await asyncio.sleep(0.01)
        await fake.hang_up(call.sid)
    finally:
        await runner.cleanup()
    paths = [path for path, _, _ in received]
    assert paths == ["/status", "/status", "/voice", "/status", "/status"]
    assert all(valid for _, _, valid in received)
    statuses = [form["CallStatus"] for _, form, _ in received]
    assert statuses == ["initiated", "ringing", "in-progress", "in-progress", "completed"]
    assert all(form["Direction"] == "outbound-api" for _, form, _ in received)
    assert received[-1][1]["CallDuration"].isdigit()
    assert fake.calls[call.sid].answered_twiml == "<Response><Hangup/></Response>"
    assert fake.player.failures == []
