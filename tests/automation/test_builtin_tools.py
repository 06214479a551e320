"""Built-in tools: DTMF tones played into the call (decoded back with a Goertzel filter),
digit collection, SMS through the twilio library against a fake of Twilio's Messages API, and
the preconditions of end_call/transfer_call."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.automation.fake_twilio import FakeTwilio
from tests.automation.helpers import (
    CALLER,
    OUR_NUMBER,
    Controls,
    make_agent,
    make_call,
    make_number,
    make_tenant,
)
from tests.fakes.loopback import LoopbackOnlyNetwork

from aybiza.agents.schema import validate_agent_config
from aybiza.audio.codec import SAMPLE_RATE_HZ, ulaw_to_array
from aybiza.automation.dtmf import COLUMN_HZ, ROW_HZ, dtmf_audio, key_groups
from aybiza.automation.tool_runner import AgentToolRunner, load_tool_kit
from aybiza.automation.tool_specs import ToolCreate
from aybiza.automation.tool_store import ToolService
from aybiza.config import Settings
from aybiza.providers.base import Message, ToolCall
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database
from aybiza.telephony.twilio.accounts import TwilioAccounts
from aybiza.telephony.twilio.rest import TwilioRest
from aybiza.telephony.twilio.sms import TwilioMessaging

AGENT = validate_agent_config({"name": "Desk", "system_prompt": "Help."})
PLATFORM_SID = "AC" + "1" * 32
TENANT_SID = "AC" + "2" * 32
KEYS = "0123456789*#ABCD"


def goertzel_power(samples: np.ndarray, frequency: float) -> float:
    """Power of one frequency in the block (Goertzel's recurrence)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / SAMPLE_RATE_HZ)
    previous = before = 0.0
    for sample in samples.astype(float):
        previous, before = sample + coefficient * previous - before, previous
    return previous**2 + before**2 - coefficient * previous * before


def decode(audio: bytes) -> str:
    """The keys in DTMF audio of 100 ms tones and 60 ms gaps."""
    samples = ulaw_to_array(audio)
    tone, gap = SAMPLE_RATE_HZ // 10, SAMPLE_RATE_HZ * 60 // 1000
    keys = ""
    for start in range(0, len(samples), tone + gap):
        block = samples[start : start + tone]
        rows = [goertzel_power(block, f) for f in ROW_HZ]
        columns = [goertzel_power(block, f) for f in COLUMN_HZ]
        row, column = int(np.argmax(rows)), int(np.argmax(columns))
        # The two winning tones stand well clear of the other six.
        others = sorted(rows)[:-1] + sorted(columns)[:-1]
        assert min(rows[row], columns[column]) > 50 * max(others)
        assert np.abs(samples[start + tone : start + tone + gap]).max() < 50
        keys += ["123A", "456B", "789C", "*0#D"][row][column]
    return keys


def test_dtmf_audio_is_the_standard_frequency_pairs_100_ms_each_with_60_ms_gaps() -> None:
    audio = dtmf_audio(KEYS)
    assert len(audio) == len(KEYS) * (800 + 480)
    assert decode(audio) == KEYS


def test_a_w_pauses_half_a_second_and_other_characters_are_refused() -> None:
    assert len(dtmf_audio("1w2")) == 2 * 1280 + 4000
    with pytest.raises(ValueError, match="0-9, A-D"):
        dtmf_audio("12x")


def twilio_messaging(settings: Settings, box: HmacSecretBox) -> TwilioMessaging:
    """SMS through Twilio's REST API as the server wires it (the fake Twilio answers)."""
    return TwilioMessaging(TwilioAccounts(settings, box, TwilioRest(settings.twilio_api_url)))


async def builtin_runner(
    database: Database,
    box: HmacSecretBox,
    names: list[str],
    *,
    settings: Settings | None = None,
    number_data: dict[str, str] | None = None,
) -> tuple[AgentToolRunner, Controls]:
    tenant = await make_tenant(database)
    version = await make_agent(database, tenant, {"name": "Desk", "system_prompt": "Help."})
    number = None
    if number_data is not None:
        number = await make_number(
            database, tenant, version.agent_id, type_="twilio", data=number_data
        )
    call_id = await make_call(database, tenant, version, ended_reason=None, number=number)
    controls = Controls(call_id)
    runner = (
        await load_tool_kit(
            tenant_id=tenant,
            agent_config=AGENT,
            call_id=controls.call_id,
            database=database,
            box=box,
            settings=settings or Settings(),
            messaging=twilio_messaging(settings or Settings(), box),
            network=LoopbackOnlyNetwork(),
            tool_names=names,
        )
    ).bind(controls)
    return runner, controls


async def test_send_dtmf_plays_the_keys_into_the_call(
    database: Database, box: HmacSecretBox
) -> None:
    runner, controls = await builtin_runner(database, box, ["send_dtmf"])
    try:
        assert [spec.name for spec in runner.specs()] == ["send_dtmf"]
        assert runner.policy("send_dtmf").finish_on_barge_in
        result = await runner.run(ToolCall("t1", "send_dtmf", {"digits": "4#"}))
        bad = await runner.run(ToolCall("t2", "send_dtmf", {"digits": "4x"}))
    finally:
        await runner.aclose()
    assert result.content == {"sent": "4#", "duration_ms": 320, "as": "tones"}
    assert [decode(audio) for audio in controls.played] == ["4#"]
    assert bad.is_error and "digits:" in bad.content["error"]


async def test_send_dtmf_presses_keypad_events_where_the_carrier_has_them_and_waits_at_w(
    database: Database, box: HmacSecretBox
) -> None:
    runner, controls = await builtin_runner(database, box, ["send_dtmf"])
    controls.keypad_events = True  # a SIP call whose far end took telephone-event
    try:
        result = await runner.run(ToolCall("t1", "send_dtmf", {"digits": "12w#ww3"}))
    finally:
        await runner.aclose()
    assert not result.is_error, result.content
    assert controls.pressed == ["12", "#", "3"]
    assert controls.played == []
    assert result.content["as"] == "keypad events" and result.content["sent"] == "12w#ww3"


def test_keys_are_grouped_between_their_pauses() -> None:
    assert key_groups("12w3ww#") == ["12", "w", "3", "ww", "#"]
    assert key_groups("w1") == ["w", "1"]
    with pytest.raises(ValueError, match="digits must be"):
        key_groups("1x")


async def test_collect_digits_waits_for_the_keypad_with_terminator_and_timeout(
    database: Database, box: HmacSecretBox
) -> None:
    runner, controls = await builtin_runner(database, box, ["collect_digits"])
    controls.digits = "12345"
    try:
        result = await runner.run(
            ToolCall("t1", "collect_digits", {"max_digits": 5, "terminator": "*", "timeout_s": 4})
        )
    finally:
        await runner.aclose()
    assert result.content == {"digits": "12345", "complete": True}
    assert controls.collect_requests == [{"max_digits": 5, "terminator": "*", "timeout_s": 4.0}]


async def test_send_sms_goes_through_twilio_from_the_number_the_call_came_in_on(
    database: Database, box: HmacSecretBox, twilio: FakeTwilio
) -> None:
    settings = Settings(
        twilio_account_sid=PLATFORM_SID,
        twilio_auth_token="platform-token",
        twilio_api_url=twilio.url,
    )
    runner, _controls = await builtin_runner(database, box, ["send_sms"], settings=settings)
    try:
        result = await runner.run(ToolCall("t1", "send_sms", {"body": "Table for 2, 7pm."}))
    finally:
        await runner.aclose()
    assert not result.is_error, result.content
    assert result.content["sid"].startswith("SM") and result.content["status"] == "queued"
    [message] = twilio.messages
    assert (message["to"], message["from"], message["body"]) == (
        CALLER,
        OUR_NUMBER,
        "Table for 2, 7pm.",
    )
    assert message["account_sid"] == PLATFORM_SID


async def test_send_sms_uses_the_tenants_own_twilio_account_for_its_twilio_numbers(
    database: Database, box: HmacSecretBox, twilio: FakeTwilio
) -> None:
    twilio.accounts[TENANT_SID] = "tenant-token"
    settings = Settings(
        twilio_account_sid=PLATFORM_SID,
        twilio_auth_token="platform-token",
        twilio_api_url=twilio.url,
    )
    data = {"account_sid": TENANT_SID, "auth_token_sealed": box.seal("tenant-token")}
    runner, _ = await builtin_runner(
        database, box, ["send_sms"], settings=settings, number_data=data
    )
    try:
        result = await runner.run(ToolCall("t1", "send_sms", {"body": "Hello"}))
    finally:
        await runner.aclose()
    assert not result.is_error, result.content
    assert twilio.messages[0]["account_sid"] == TENANT_SID


async def test_twilio_refusals_and_missing_credentials_come_back_as_errors(
    database: Database, box: HmacSecretBox, twilio: FakeTwilio
) -> None:
    wrong = Settings(
        twilio_account_sid=PLATFORM_SID, twilio_auth_token="wrong", twilio_api_url=twilio.url
    )
    runner, _ = await builtin_runner(database, box, ["send_sms"], settings=wrong)
    unconfigured, _ = await builtin_runner(database, box, ["send_sms"])
    try:
        refused = await runner.run(ToolCall("t1", "send_sms", {"body": "Hello"}))
        missing = await unconfigured.run(ToolCall("t2", "send_sms", {"body": "Hello"}))
    finally:
        await runner.aclose()
        await unconfigured.aclose()
    assert (
        refused.is_error
        and "Twilio refused the message (401, code 20003)" in refused.content["error"]
    )
    assert missing.is_error and "SMS is not configured" in missing.content["error"]
    assert twilio.messages == []


async def test_end_call_may_carry_a_goodbye_precondition_checked_for_the_call_loop(
    database: Database, box: HmacSecretBox
) -> None:
    runner, _ = await builtin_runner(database, box, ["end_call", "transfer_call"])
    tenant_tools = ToolService(database, box)
    await runner.aclose()
    tenant = await make_tenant(database)
    await tenant_tools.create(
        tenant,
        ToolCreate.model_validate(
            {
                "name": "end_call",
                "kind": "end_call",
                "description": "Hang up.",
                "options": {"precondition": "caller_said_goodbye"},
            }
        ),
    )
    call_id = await make_call(database, tenant, ended_reason=None)
    runner = (
        await load_tool_kit(
            tenant_id=tenant,
            agent_config=AGENT,
            call_id=call_id,
            database=database,
            box=box,
            settings=Settings(),
            network=LoopbackOnlyNetwork(),
            tool_names=["end_call", "transfer_call"],
        )
    ).bind(Controls(call_id))
    end = ToolCall("e1", "end_call", {})
    try:
        assert runner.specs() == ()  # the call loop offers the call-ending tools itself
        vetoed = runner.check_precondition(end, [Message("user", "What time is it?")])
        allowed = runner.check_precondition(
            end, [("caller", "what time is it"), ("agent", "Seven."), ("caller", "Great, bye!")]
        )
        no_target = runner.check_precondition(ToolCall("x", "transfer_call", {"to": "bob"}), [])
        target = runner.check_precondition(
            ToolCall("x", "transfer_call", {"to": "+15551234567"}), []
        )
    finally:
        await runner.aclose()
    assert vetoed is not None and "needs the caller to have said one of 'bye'" in vetoed
    assert allowed is None and target is None
    assert no_target is not None and "to: expected an E.164 number" in no_target


async def test_a_precondition_vetoes_a_tool_before_it_runs(
    database: Database, box: HmacSecretBox
) -> None:
    tenant = await make_tenant(database)
    await ToolService(database, box).create(
        tenant,
        ToolCreate.model_validate(
            {
                "name": "send_dtmf",
                "kind": "send_dtmf",
                "description": "Press keys.",
                "options": {"precondition": {"min_caller_turns": 2}},
            }
        ),
    )
    call_id = await make_call(database, tenant, ended_reason=None)
    controls = Controls(call_id)
    transcript: list[Message] = [Message("user", "Hi")]
    runner = (
        await load_tool_kit(
            tenant_id=tenant,
            agent_config=AGENT,
            call_id=controls.call_id,
            database=database,
            box=box,
            settings=Settings(),
            network=LoopbackOnlyNetwork(),
            tool_names=["send_dtmf"],
        )
    ).bind(controls, lambda: transcript)
    try:
        vetoed = await runner.run(ToolCall("t1", "send_dtmf", {"digits": "1"}))
        transcript.append(Message("user", "Press one please"))
        done = await runner.run(ToolCall("t2", "send_dtmf", {"digits": "1"}))
    finally:
        await runner.aclose()
    assert (
        vetoed.is_error
        and "needs at least 2 caller turns first (so far 1)" in vetoed.content["error"]
    )
    assert not done.is_error and len(controls.played) == 1
