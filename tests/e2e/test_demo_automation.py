"""The demo agent acts: it books through the tenant's HTTP tool (signed), texts a confirmation
through Twilio's Messages API (a faithful fake), transfers on request, and after the call its
summary and extracted fields are on the call record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.twilio_rest import DEFAULT_ACCOUNT_SID

from aybiza.agents.demo import (
    DEMO_PHONE_NUMBER,
    DEMO_TRANSFER_NUMBER,
    NO_BOOKING_SYSTEM,
    NOT_BOOKED,
)
from aybiza.simulator.twilio_client import SimulatedCall

from .demo_stack import Stack, book_then_ask_for_a_person, demo_stack, spoken


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with demo_stack(tmp_path) as running:
        yield running


async def test_the_demo_agent_books_texts_transfers_and_is_analysed(stack: Stack) -> None:
    call = await SimulatedCall.dial(
        stack.server.base_url,
        to=DEMO_PHONE_NUMBER,
        auth_token=stack.server.auth_token,
        account_sid=DEFAULT_ACCOUNT_SID,  # Twilio sends the number's own account
    )
    async with call:
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=30)
        for line in ("I would like to book an appointment", "tomorrow morning"):
            await call.say(await spoken(line))
            await call.wait_for_agent_audio(timeout=15)
            await call.wait_until_agent_done(timeout=30)
        await call.send_dtmf("0")  # "speak to a person"
        await call.wait_until_ended(timeout=30)
    assert stack.bookings.bookings == [{"when": "tomorrow morning"}]
    assert stack.bookings.refused == 0
    [message] = stack.twilio.messages
    assert message.to == "+15558675310" and message.from_ == DEMO_PHONE_NUMBER
    assert message.body == "ACME: you are booked for tomorrow morning. Call us to change it."

    record: dict[str, Any] = {}
    for _ in range(200):
        record = await stack.server.call_record(call.call_sid)
        if record.get("analysis"):
            break
        await asyncio.sleep(0.1)
    assert record["ended_reason"] == "transferred"
    assert record["transfer_to"] == DEMO_TRANSFER_NUMBER
    tools = {entry["name"]: entry for entry in record["tool_calls"]}
    assert set(tools) == {"book_appointment", "send_sms"}
    assert tools["book_appointment"]["outcome"] == "ok", tools
    assert tools["send_sms"]["outcome"] == "ok", tools
    analysis = record["analysis"]
    assert isinstance(analysis, dict), record
    assert analysis["summary"]
    assert analysis["fields"]["when"] == "tomorrow morning", analysis


def agent_lines(record: dict[str, Any]) -> list[str]:
    return [line["text"] for line in record["transcript"] if line["speaker"] == "agent"]


async def test_item17_when_booking_fails_or_is_missing_the_demo_says_so_and_texts_nothing(
    stack: Stack,
) -> None:
    stack.bookings.failing_status = 500
    failed = await book_then_ask_for_a_person(stack)

    async with httpx.AsyncClient(
        base_url=stack.server.base_url,
        headers={"Authorization": f"Bearer {stack.server.api_key}"},
    ) as client:
        deleted = await client.delete(f"/v1/tools/{stack.tool_id}")
        assert deleted.status_code == 204, deleted.text
    missing = await book_then_ask_for_a_person(stack)

    assert stack.twilio.messages == []
    assert stack.bookings.bookings == []
    for record, outcome, said in (
        (failed, "http_error", NOT_BOOKED),
        (missing, "unknown_tool", NO_BOOKING_SYSTEM),
    ):
        lines = agent_lines(record)
        assert any(line.startswith(said) for line in lines), lines
        assert not any("You are booked" in line for line in lines), lines
        assert [(t["name"], t["outcome"]) for t in record["tool_calls"]] == [
            ("book_appointment", outcome)
        ]
        assert record["ended_reason"] == "transferred"
        # The post-call analysis reads the whole call: nothing was booked.
        assert record["analysis"]["success"] is False, record["analysis"]
